import CurvatureNumerics
import CurvatureNN

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

// Computed KFAC and EKFAC factors as safetensors files, so a user computes them once.
//
// Tensors (F32 or F64, the operator's scalar type), per covered layer `i` (its index in
// the Sequential):
//
//   KFAC    layer.<i>.A                  input covariance (when the weight is selected)
//           layer.<i>.B                  output-gradient covariance
//   EKFAC   layer.<i>.A.eigenvectors     Q_A (when the weight is selected)
//           layer.<i>.B.eigenvectors     Q_B
//           layer.<i>.eigenvalues        Λ* of the weight or joint block
//           layer.<i>.bias.eigenvalues   λ* of a separate bias block
//
// `__metadata__`: format (curvature.kfac / curvature.ekfac), format_version (1),
// fisher_type, mc_samples, seed, approximation, joint_bias, blocks (selected parameter
// blocks, comma-separated), block_shapes (their names and shapes), layers, dtype, and for
// information data_points and reduction_factor. EKFAC stores its eigenbases rather than
// A and B: eigenvectors are not unique, and the corrected eigenvalues belong to one
// choice of them.

/// Reading and writing of Kronecker-factor files.
enum KroneckerFactorFile {
  static let version = "1"

  static func dtype<T: BLASScalar>(_: T.Type) -> String { T.self == Float.self ? "F32" : "F64" }

  static func blockShapes<T: BLASScalar>(_ problem: CurvatureProblem<T>) -> String {
    problem.blocks.map { block in
      let spec = problem.model.parameterSpecs[block]
      return "\(spec.name):\(spec.shape.map(String.init).joined(separator: "x"))"
    }.joined(separator: ",")
  }

  static func metadata<T: BLASScalar>(
    format: String, options: KFACOptions, problem: CurvatureProblem<T>, layers: [Int]
  ) -> [String: String] {
    [
      "format": format, "format_version": version,
      "fisher_type": options.fisherType.rawValue, "mc_samples": String(options.mcSamples),
      "seed": String(options.seed), "approximation": options.approximation.rawValue,
      "joint_bias": options.jointBias ? "true" : "false",
      "blocks": problem.blocks.map(String.init).joined(separator: ","),
      "block_shapes": blockShapes(problem),
      "layers": layers.map(String.init).joined(separator: ","),
      "dtype": dtype(T.self),
      "data_points": String(problem.data.count), "reduction_factor": String(problem.reductionFactor),
    ]
  }

  /// Opens a factor file and checks it against the problem: format, options, dtype,
  /// selected blocks and their shapes, layers, and the exact set of tensor names and dtypes.
  /// - Returns: The file, its options, and the problem's KFAC layout for those options.
  static func open<T: BLASScalar>(
    _ url: URL, format: String, problem: CurvatureProblem<T>, tensorNames: (KFACLayerFactors<T>) -> [String]
  ) throws -> (SafetensorsFile, KFACOptions, [KFACLayerFactors<T>]) {
    let file = try SafetensorsFile(contentsOf: url)
    func field(_ key: String) throws -> String {
      guard let value = file.metadata[key] else {
        throw FileFormatError(
          path: file.path, location: "metadata", problem: "missing field '\(key)'",
          expected: "a \(format) factor file with '\(key)' in __metadata__",
          found: file.metadata.isEmpty ? "no metadata" : "fields: \(file.metadata.keys.sorted().joined(separator: ", "))")
      }
      return value
    }
    func invalid(_ key: String, _ expected: String, _ found: String) -> FileFormatError {
      FileFormatError(path: file.path, location: "metadata field '\(key)'", problem: "invalid value", expected: expected, found: "'\(found)'")
    }
    let found = try field("format")
    guard found == format else {
      throw FileFormatError(
        path: file.path, location: "metadata field 'format'", problem: "not a \(format) factor file",
        expected: "'\(format)'", found: "'\(found)'")
    }
    guard try field("format_version") == version else {
      throw invalid("format_version", "'\(version)'", try field("format_version"))
    }
    let dtypeText = try field("dtype")
    guard dtypeText == dtype(T.self) else {
      throw FileFormatError(
        path: file.path, location: "metadata field 'dtype'", problem: "factors of another scalar type",
        expected: "\(dtype(T.self)) factors for a \(T.dtypeName) problem", found: "'\(dtypeText)'")
    }

    var options = KFACOptions()
    let fisher = try field("fisher_type")
    guard let fisherType = FisherType(rawValue: fisher) else {
      throw invalid("fisher_type", FisherType.allCases.map(\.rawValue).joined(separator: ", "), fisher)
    }
    options.fisherType = fisherType
    let samples = try field("mc_samples")
    guard let mcSamples = Int(samples), mcSamples >= 1 else { throw invalid("mc_samples", "a positive integer", samples) }
    options.mcSamples = mcSamples
    let seedText = try field("seed")
    guard let seed = UInt64(seedText) else { throw invalid("seed", "an unsigned 64-bit integer", seedText) }
    options.seed = seed
    let approximationText = try field("approximation")
    guard let approximation = KFACApproximation(rawValue: approximationText) else {
      throw invalid("approximation", "expand or reduce", approximationText)
    }
    options.approximation = approximation
    let joint = try field("joint_bias")
    guard joint == "true" || joint == "false" else { throw invalid("joint_bias", "true or false", joint) }
    options.jointBias = joint == "true"

    func integers(_ key: String) throws -> [Int] {
      let text = try field(key)
      if text.isEmpty { return [] }
      let values = text.split(separator: ",", omittingEmptySubsequences: false).map { Int($0) }
      guard values.allSatisfy({ $0 != nil }) else { throw invalid(key, "comma-separated integers", text) }
      return values.map { $0! }
    }
    let blocks = try integers("blocks")
    guard blocks == problem.blocks else {
      throw CurvatureError.invalidArgument("the factors in \(file.path) cover parameter blocks \(blocks), the problem selects \(problem.blocks)")
    }
    let shapes = try field("block_shapes")
    guard shapes == blockShapes(problem) else {
      throw CurvatureError.invalidArgument("the factors in \(file.path) belong to parameter blocks \(shapes), the problem's are \(blockShapes(problem))")
    }
    let layout = try problem.kfacLayout(jointBias: options.jointBias, allowingOthers: options.otherParameters != nil).factors
    let layers = try integers("layers")
    guard layers == layout.map(\.layer) else {
      throw CurvatureError.invalidArgument("the factors in \(file.path) cover layers \(layers), the problem's selected blocks sit in layers \(layout.map(\.layer))")
    }

    let expected = layout.flatMap(tensorNames)
    if let missing = expected.first(where: { file.info(named: $0) == nil }) {
      throw FileFormatError(
        path: file.path, location: "tensor '\(missing)'", problem: "missing tensor",
        expected: "tensors \(expected.joined(separator: ", "))", found: "tensors \(file.names.joined(separator: ", "))")
    }
    if let extra = file.names.first(where: { !expected.contains($0) }) {
      throw FileFormatError(
        path: file.path, location: "tensor '\(extra)'", problem: "unexpected tensor",
        expected: "tensors \(expected.joined(separator: ", "))", found: "tensors \(file.names.joined(separator: ", "))")
    }
    if let info = file.tensors.first(where: { $0.dtype != dtype(T.self) }) {
      throw FileFormatError(
        path: file.path, location: "tensor '\(info.name)'", problem: "wrong dtype",
        expected: "'\(dtype(T.self))' as the metadata says", found: "'\(info.dtype)'")
    }
    return (file, options, layout)
  }

  /// Reads a tensor of a required shape (finite values only).
  static func read<T: BLASScalar>(_ file: SafetensorsFile, _ name: String, shape: [Int]) throws -> NDArray<T> {
    let array = try file.array(named: name, as: T.self, requireFinite: true)
    guard array.shape == shape else {
      throw FileFormatError(
        path: file.path, location: "tensor '\(name)'", problem: "wrong shape for the model's layer",
        expected: "\(shape)", found: "\(array.shape)")
    }
    return array
  }
}

extension KFACOperator {
  /// Saves the factors (computing them first if needed) as a safetensors file, with the
  /// options and the selected blocks in its metadata; see `init(_:contentsOf:)`.
  /// - Throws: What computing the factors throws; `FileFormatError` when writing fails.
  public func save(to url: URL) throws {
    try requireNoOthers("saving the factors")
    let factors = try computeFactors()
    var arrays = [(name: String, array: NDArray<Scalar>)]()
    for layer in factors {
      if let a = layer.inputCovariance { arrays.append(("layer.\(layer.layer).A", a)) }
      arrays.append(("layer.\(layer.layer).B", layer.gradientCovariance))
    }
    try SafetensorsWriter.write(
      arrays, to: url,
      metadata: KroneckerFactorFile.metadata(format: "curvature.kfac", options: options, problem: problem, layers: factors.map(\.layer)))
  }

  /// KFAC with factors read from a file written by `save(to:)`; the options are the
  /// file's. The data of `problem` are not used (the factors already summarize them).
  /// - Throws: `FileFormatError` for a file that is not a KFAC factor file of this scalar
  ///   type, or has missing, extra, non-finite or misshapen tensors or invalid metadata;
  ///   `CurvatureError.invalidArgument` when the file's selected blocks, their shapes or
  ///   layers differ from the problem's.
  public convenience init(_ problem: CurvatureProblem<Scalar>, contentsOf url: URL) throws {
    let (file, options, layout) = try KroneckerFactorFile.open(url, format: "curvature.kfac", problem: problem) { layer in
      (layer.weightBlock != nil ? ["layer.\(layer.layer).A"] : []) + ["layer.\(layer.layer).B"]
    }
    var factors = layout
    for slot in factors.indices {
      let layer = factors[slot]
      let (out, order) = (layer.weightShape[0], layer.weightShape[1] + (layer.joint ? 1 : 0))
      if layer.weightBlock != nil {
        factors[slot].inputCovariance = try KroneckerFactorFile.read(file, "layer.\(layer.layer).A", shape: [order, order])
      }
      factors[slot].gradientCovariance = try KroneckerFactorFile.read(file, "layer.\(layer.layer).B", shape: [out, out])
    }
    try self.init(problem, options: options, factors: factors)
  }
}

extension EKFACOperator {
  /// Saves the eigenbases and corrected eigenvalues (computing them first if needed) as a
  /// safetensors file, with the options and the selected blocks in its metadata.
  /// - Throws: What computing the factors throws; `FileFormatError` when writing fails.
  public func save(to url: URL) throws {
    try requireNoOthers("saving the factors")
    let factors = try computeFactors()
    var arrays = [(name: String, array: NDArray<Scalar>)]()
    for layer in factors {
      let prefix = "layer.\(layer.layer)"
      if let qa = layer.inputBasis { arrays.append(("\(prefix).A.eigenvectors", qa)) }
      arrays.append(("\(prefix).B.eigenvectors", layer.gradientBasis))
      if let values = layer.eigenvalues { arrays.append(("\(prefix).eigenvalues", values)) }
      if let values = layer.biasEigenvalues { arrays.append(("\(prefix).bias.eigenvalues", values)) }
    }
    try SafetensorsWriter.write(
      arrays, to: url,
      metadata: KroneckerFactorFile.metadata(format: "curvature.ekfac", options: options, problem: problem, layers: factors.map(\.layer)))
  }

  /// EKFAC with eigenbases and corrected eigenvalues read from a file written by
  /// `save(to:)`; the options are the file's.
  /// - Throws: `FileFormatError` for a file that is not an EKFAC factor file of this
  ///   scalar type, or has missing, extra, non-finite or misshapen tensors or invalid
  ///   metadata; `CurvatureError.invalidArgument` when the file's selected blocks, their
  ///   shapes or layers differ from the problem's.
  public convenience init(_ problem: CurvatureProblem<Scalar>, contentsOf url: URL) throws {
    let (file, options, layout) = try KroneckerFactorFile.open(url, format: "curvature.ekfac", problem: problem) { layer in
      let prefix = "layer.\(layer.layer)"
      return (layer.weightBlock != nil ? ["\(prefix).A.eigenvectors"] : []) + ["\(prefix).B.eigenvectors"]
        + (layer.weightBlock != nil ? ["\(prefix).eigenvalues"] : [])
        + (layer.biasBlock != nil && !layer.joint ? ["\(prefix).bias.eigenvalues"] : [])
    }
    let factors = try layout.map { layer -> EKFACLayerFactors<Scalar> in
      let prefix = "layer.\(layer.layer)"
      let (out, order) = (layer.weightShape[0], layer.weightShape[1] + (layer.joint ? 1 : 0))
      let weight = layer.weightBlock != nil
      return EKFACLayerFactors(
        layer: layer.layer, weightBlock: layer.weightBlock, biasBlock: layer.biasBlock, joint: layer.joint,
        weightShape: layer.weightShape,
        inputBasis: weight ? try KroneckerFactorFile.read(file, "\(prefix).A.eigenvectors", shape: [order, order]) : nil,
        gradientBasis: try KroneckerFactorFile.read(file, "\(prefix).B.eigenvectors", shape: [out, out]),
        eigenvalues: weight ? try KroneckerFactorFile.read(file, "\(prefix).eigenvalues", shape: [out, order]) : nil,
        biasEigenvalues: layer.biasBlock != nil && !layer.joint
          ? try KroneckerFactorFile.read(file, "\(prefix).bias.eigenvalues", shape: [out]) : nil)
    }
    try self.init(problem, options: options, factors: factors)
  }
}
