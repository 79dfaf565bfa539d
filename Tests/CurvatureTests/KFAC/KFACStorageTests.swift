import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// Saving and loading KFAC and EKFAC factors: bit-identical round trips, and clear errors
/// for files that do not fit the problem.
@Suite struct KFACStorageTests {
  typealias T = KFACTesting

  static func temporaryURL(_ name: String) -> URL {
    FileManager.default.temporaryDirectory.appendingPathComponent("curvature-kfac-\(UUID().uuidString)-\(name).safetensors")
  }

  static let optionVariants: [(KFACOptions, [Int]?)] = [
    (KFACOptions(fisherType: .type2), nil),
    (KFACOptions(fisherType: .mc, mcSamples: 3, seed: 99, approximation: .reduce, jointBias: true), nil),
    (KFACOptions(fisherType: .empirical, jointBias: true), [0, 1, 3]),
    (KFACOptions(fisherType: .type2), [1, 3]),
    (KFACOptions(fisherType: .forwardOnly), [0, 2]),
  ]

  @Test func kfacRoundTripIsBitIdentical() throws {
    for (options, blocks) in Self.optionVariants {
      let problem = try T.mlp(Tanh(), .crossEntropy, n: 5, blocks: blocks)
      let kfac = try KFACOperator(problem, options: options)
      let url = Self.temporaryURL("kfac")
      defer { try? FileManager.default.removeItem(at: url) }
      try kfac.save(to: url)
      let loaded = try KFACOperator(problem, contentsOf: url)
      #expect(loaded.options == options)
      #expect(try loaded.computeFactors() == kfac.computeFactors(), "\(options) \(String(describing: blocks))")
      #expect(try loaded.dense() == kfac.dense())
      let file = try SafetensorsFile(contentsOf: url)
      #expect(file.metadata["format"] == "curvature.kfac")
      #expect(file.metadata["fisher_type"] == options.fisherType.rawValue)
      #expect(file.metadata["dtype"] == "F64")
    }
  }

  @Test func ekfacRoundTripIsBitIdentical() throws {
    for (options, blocks) in Self.optionVariants where options.fisherType != .forwardOnly {
      let problem = try T.groupedCNN(.crossEntropy, n: 3)
      let restricted = try CurvatureProblem(
        model: problem.model, loss: problem.loss, data: problem.data, blocks: blocks, checkDeterminism: false)
      let ekfac = try EKFACOperator(restricted, options: options)
      let url = Self.temporaryURL("ekfac")
      defer { try? FileManager.default.removeItem(at: url) }
      try ekfac.save(to: url)
      let loaded = try EKFACOperator(restricted, contentsOf: url)
      #expect(loaded.options == options)
      #expect(try loaded.computeFactors() == ekfac.computeFactors())
      #expect(try loaded.dense() == ekfac.dense())
    }
  }

  @Test func floatRoundTrip() throws {
    let problem = try KFACInverseTests.inFloat(try T.mlp(Sigmoid(), .mse, n: 4))
    let url = Self.temporaryURL("float")
    defer { try? FileManager.default.removeItem(at: url) }
    let kfac = try KFACOperator(problem, options: KFACOptions(fisherType: .type2, jointBias: true))
    try kfac.save(to: url)
    #expect(try SafetensorsFile(contentsOf: url).tensors.allSatisfy { $0.dtype == "F32" })
    #expect(try KFACOperator(problem, contentsOf: url).computeFactors() == kfac.computeFactors())
    // A Float file does not load into a Double problem.
    #expect(throws: FileFormatError.self) { try KFACOperator(try T.mlp(Sigmoid(), .mse, n: 4), contentsOf: url) }
  }

  @Test func mismatchesAreReported() throws {
    let problem = try T.mlp(Tanh(), .crossEntropy, n: 4)
    let kfacURL = Self.temporaryURL("kfac"), ekfacURL = Self.temporaryURL("ekfac")
    defer {
      try? FileManager.default.removeItem(at: kfacURL)
      try? FileManager.default.removeItem(at: ekfacURL)
    }
    try KFACOperator(problem, options: KFACOptions(fisherType: .type2)).save(to: kfacURL)
    try EKFACOperator(problem, options: KFACOptions(fisherType: .type2)).save(to: ekfacURL)

    // The other kind of file.
    #expect(throws: FileFormatError.self) { try KFACOperator(problem, contentsOf: ekfacURL) }
    #expect(throws: FileFormatError.self) { try EKFACOperator(problem, contentsOf: kfacURL) }
    // Other selected blocks.
    let weights = try T.mlp(Tanh(), .crossEntropy, n: 4, blocks: [0, 2])
    #expect(throws: CurvatureError.self) { try KFACOperator(weights, contentsOf: kfacURL) }
    // Another model (layer widths differ).
    var rng = RandomGenerator(seed: 3)
    let wider = try T.problem(
      [Linear(inFeatures: 3, outFeatures: 5), Tanh(), Linear(inFeatures: 5, outFeatures: 3)], seed: 3,
      inputs: rng.normalArray(shape: [4, 3]), targets: .classes([0, 1, 2, 0]), loss: Loss(.crossEntropy))
    do {
      _ = try KFACOperator(wider, contentsOf: kfacURL)
      Issue.record("loading factors of another model should fail")
    } catch let error as CurvatureError {
      #expect(error.description.contains("parameter blocks"))
    }
    // A missing file.
    #expect(throws: FileFormatError.self) { try KFACOperator(problem, contentsOf: Self.temporaryURL("missing")) }

    // Hand-made files: missing, extra and misshapen tensors, bad metadata.
    let file = try SafetensorsFile(contentsOf: kfacURL)
    let arrays = try file.read(as: Double.self)
    func write(_ arrays: [(name: String, array: NDArray<Double>)], _ metadata: [String: String]) throws -> URL {
      let url = Self.temporaryURL("edited")
      try SafetensorsFile.write(arrays, to: url, metadata: metadata)
      return url
    }
    var edits = [(String, [(name: String, array: NDArray<Double>)], [String: String])]()
    edits.append(("missing tensor", Array(arrays.dropLast()), file.metadata))
    edits.append(("extra tensor", arrays + [(name: "layer.9.B", array: NDArray<Double>.identity(2))], file.metadata))
    edits.append(("misshapen tensor", arrays.map { $0.name == "layer.0.A" ? ($0.name, NDArray<Double>.identity(4)) : $0 }, file.metadata))
    edits.append(("non-finite tensor", arrays.map { $0.name == "layer.0.A" ? ($0.name, NDArray<Double>(repeating: .nan, shape: [3, 3])) : $0 }, file.metadata))
    for (key, value) in [("fisher_type", "fisher"), ("mc_samples", "0"), ("joint_bias", "yes"), ("approximation", "both"),
                         ("format_version", "2"), ("blocks", "0,x")] {
      var metadata = file.metadata
      metadata[key] = value
      edits.append(("metadata \(key)", arrays, metadata))
    }
    var withoutSeed = file.metadata
    withoutSeed["seed"] = nil
    edits.append(("metadata without seed", arrays, withoutSeed))
    for (label, arrays, metadata) in edits {
      let url = try write(arrays, metadata)
      defer { try? FileManager.default.removeItem(at: url) }
      #expect(throws: FileFormatError.self, "\(label)") { try KFACOperator(problem, contentsOf: url) }
    }
    // The joint-bias flag changes the expected shapes: a consistent file with another
    // flag loads, with the file's options.
    let joint = try KFACOperator(problem, options: KFACOptions(fisherType: .type2, jointBias: true))
    try joint.save(to: kfacURL)
    #expect(try KFACOperator(problem, contentsOf: kfacURL).options.jointBias)
  }
}
