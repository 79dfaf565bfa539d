import Foundation
import CurvatureNumerics

// What a graph model's data need beyond one float input and one class per data point:
// per-position class targets (cross-entropy with the class axis 1 on outputs
// `[N, C, d1, …]`, e.g. one token per position), the exporter's `reference.npz` layout
// (`input_0`, `input_1`, …, `targets`), and the stored dtypes, so that callers can refuse a
// float file for a graph input of token ids.

extension NPYDataset {
  /// A data set with one `.npy` file per model input and targets whose shape is checked
  /// against what the loss expects.
  ///
  /// ```swift
  /// // nanoGPT: token ids [N, T], outputs [N, vocab, T], next-token targets [N, T].
  /// let data = try NPYDataset<Float>(inputs: [ids], targets: next, classTargets: true, classTargetShape: [T])
  /// ```
  /// - Parameters:
  ///   - inputs: At least one file, each `[N, ...]`, any float, integer or boolean dtype,
  ///     in the model's input order.
  ///   - targets: Integer class indices `[N] + classTargetShape` when `classTargets`, else
  ///     floats `[N, ...]`.
  ///   - classTargets: Whether the loss takes class indices (cross-entropy).
  ///   - classTargetShape: The shape of one data point's class targets: `[]` for one class
  ///     per data point (outputs `[N, C]`), `[d1, …]` for one class per position of outputs
  ///     `[N, C, d1, …]` (PyTorch's class axis 1). Ignored for value targets.
  /// - Throws: `FileFormatError` for malformed files; `DataError` naming the files when no
  ///   input is given, the counts differ or the class targets are not shaped
  ///   `[N] + classTargetShape`.
  public init(inputs: [URL], targets: URL, classTargets: Bool, classTargetShape: [Int]) throws {
    guard !inputs.isEmpty else { throw DataError("no input files given") }
    try self.init(
      inputReaders: try inputs.map { try NPYFileReader(contentsOf: $0) }, targetReader: try NPYFileReader(contentsOf: targets),
      classTargets: classTargets, classTargetShape: classTargetShape)
  }

  /// A data set from an `.npz` archive holding either the arrays `X` and `y`, or the
  /// exporter's `reference.npz` layout: `input_0`, `input_1`, … (one per model input, in
  /// order) and `targets`.
  /// - Parameters:
  ///   - archive: The `.npz` file.
  ///   - classTargets: Whether the loss takes class indices (cross-entropy).
  ///   - classTargetShape: The shape of one data point's class targets (see
  ///     `init(inputs:targets:classTargets:classTargetShape:)`).
  /// - Throws: `FileFormatError` for a malformed archive or one with neither layout (naming
  ///   the members it has); `DataError` as `init(inputs:targets:classTargets:classTargetShape:)`.
  public init(archive: URL, classTargets: Bool, classTargetShape: [Int]) throws {
    let file = try NPZFile(contentsOf: archive)
    let members = Set(file.names)
    if members.contains("X") || members.contains("y") || !members.contains("input_0") {
      try self.init(
        inputReaders: [try file.reader(named: "X")], targetReader: try file.reader(named: "y"), classTargets: classTargets,
        classTargetShape: classTargetShape)
      return
    }
    var readers = [NPYFileReader]()
    while members.contains("input_\(readers.count)") { readers.append(try file.reader(named: "input_\(readers.count)")) }
    try self.init(
      inputReaders: readers, targetReader: try file.reader(named: "targets"), classTargets: classTargets,
      classTargetShape: classTargetShape)
  }

  /// The number of input files (one per model input).
  public var inputCount: Int { inputReaders.count }

  /// The stored dtype of each input file, in order.
  public var inputDTypes: [NPYDType] { inputReaders.map(\.dtype) }

  /// The file (or archive member) of each input, in order.
  public var inputSources: [String] { inputReaders.map(\.source) }

  /// The shape of the targets file, `[N, ...]`.
  public var targetShape: [Int] { targetReader.shape }
}
