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
//   mixed   other.<b>.block             the exact curvature block [p, p] of other parameter
//                                       block b (other_parameters = exact-block)
//           other.<b>.diagonal          its diagonal [p] (other_parameters = diagonal)
//
// `__metadata__`: format (curvature.kfac / curvature.ekfac), format_version (1),
// fisher_type, mc_samples, seed, approximation, joint_bias, blocks (selected parameter
// blocks, comma-separated), block_shapes (their names and shapes), layers, dtype, for a
// mixed operator other_parameters (exact-block, diagonal or exclude) and others (the other
// blocks, comma-separated; absent both for a plain operator), and for information
// data_points and reduction_factor. EKFAC stores its eigenbases rather than
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
    ].merging(otherMetadata(options: options, problem: problem)) { first, _ in first }
      .merging(options.packedProjection == .oneBlock ? [:] : ["packed_projection": options.packedProjection.rawValue]) { first, _ in first }
      .merging(options.embeddings ? ["embeddings": "true"] : [:]) { first, _ in first }
      .merging(options.termByTerm ? ["term_by_term": "true"] : [:]) { first, _ in first }
  }

  /// The mixed operator's metadata: its treatment of the other blocks and which they are.
  static func otherMetadata<T: BLASScalar>(options: KFACOptions, problem: CurvatureProblem<T>) -> [String: String] {
    guard let treatment = options.otherParameters else { return [:] }
    let others = (try? problem.kfacLayout(jointBias: options.jointBias, allowingOthers: true, embeddings: options.embeddings).others) ?? []
    return ["other_parameters": treatment.rawValue, "others": others.map(String.init).joined(separator: ",")]
  }

  /// The tensors of the other blocks of a mixed operator.
  static func otherTensors<T: BLASScalar>(_ blocks: [OtherParameterBlock<T>]) -> [(name: String, array: NDArray<T>)] {
    blocks.compactMap { other in
      other.curvature.map { ("other.\(other.block).\($0.rank == 2 ? "block" : "diagonal")", $0) }
    }
  }

  /// The names of the other blocks' tensors for a treatment.
  static func otherTensorNames(_ others: [Int], _ treatment: OtherParameters?) -> [String] {
    switch treatment {
    case .exactBlock: return others.map { "other.\($0).block" }
    case .diagonal: return others.map { "other.\($0).diagonal" }
    case .exclude, nil: return []
    }
  }

  /// Reads the other blocks of a mixed operator (nil for a plain one).
  static func readOthers<T: BLASScalar>(
    _ file: SafetensorsFile, _ others: [Int], options: KFACOptions, problem: CurvatureProblem<T>
  ) throws -> [OtherParameterBlock<T>]? {
    guard let treatment = options.otherParameters else { return nil }
    return try others.map { block in
      let p = problem.model.parameterSpecs[block].count
      switch treatment {
      case .exactBlock: return OtherParameterBlock(block: block, curvature: try read(file, "other.\(block).block", shape: [p, p]))
      case .diagonal: return OtherParameterBlock(block: block, curvature: try read(file, "other.\(block).diagonal", shape: [p]))
      case .exclude: return OtherParameterBlock(block: block, curvature: nil)
      }
    }
  }

  /// Opens a factor file and checks it against the problem: format, options, dtype,
  /// selected blocks and their shapes, layers, and the exact set of tensor names and dtypes.
  /// - Returns: The file, its options, the problem's KFAC layout for those options, and
  ///   the other blocks of a mixed operator.
  static func open<T: BLASScalar>(
    _ url: URL, format: String, problem: CurvatureProblem<T>, tensorNames: (KFACLayerFactors<T>) -> [String]
  ) throws -> (SafetensorsFile, KFACOptions, [KFACLayerFactors<T>], [Int]) {
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
    if let text = file.metadata["term_by_term"] {
      guard text == "true" || text == "false" else { throw invalid("term_by_term", "true or false", text) }
      options.termByTerm = text == "true"
    }
    if let text = file.metadata["embeddings"] {
      guard text == "true" || text == "false" else { throw invalid("embeddings", "true or false", text) }
      options.embeddings = text == "true"
    }
    if let text = file.metadata["packed_projection"] {
      guard let packed = PackedProjection(rawValue: text) else {
        throw invalid("packed_projection", PackedProjection.allCases.map(\.rawValue).joined(separator: ", "), text)
      }
      options.packedProjection = packed
    }
    if let text = file.metadata["other_parameters"] {
      guard let treatment = OtherParameters(rawValue: text) else {
        throw invalid("other_parameters", OtherParameters.allCases.map(\.rawValue).joined(separator: ", "), text)
      }
      options.otherParameters = treatment
    }
    let full = try problem.kfacLayout(jointBias: options.jointBias, allowingOthers: options.otherParameters != nil, embeddings: options.embeddings)
    let layout = full.factors
    if options.otherParameters != nil {
      let others = try integers("others")
      guard others == full.others else {
        throw CurvatureError.invalidArgument("the factors in \(file.path) hold other parameter blocks \(others), the problem's blocks outside the Kronecker nodes are \(full.others)")
      }
    }
    let layers = try integers("layers")
    guard layers == layout.map(\.layer) else {
      throw CurvatureError.invalidArgument("the factors in \(file.path) cover layers \(layers), the problem's selected blocks sit in layers \(layout.map(\.layer))")
    }

    let expected = layout.flatMap(tensorNames) + otherTensorNames(full.others, options.otherParameters)
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
    return (file, options, layout, full.others)
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
  /// options and the selected blocks in its metadata; see `init(_:contentsOf:)`. A mixed
  /// operator also saves its other parameter blocks (exact blocks or diagonals).
  /// - Throws: What computing the factors throws; `FileFormatError` when writing fails.
  public func save(to url: URL) throws {
    let factors = try computeFactors()
    var arrays = [(name: String, array: NDArray<Scalar>)]()
    for layer in factors {
      if let a = layer.inputCovariance { arrays.append(("layer.\(layer.layer).A", a)) }
      arrays.append(("layer.\(layer.layer).B", layer.gradientCovariance))
    }
    arrays += KroneckerFactorFile.otherTensors(try otherParameterBlocks())
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
    let (file, options, layout, others) = try KroneckerFactorFile.open(url, format: "curvature.kfac", problem: problem) { layer in
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
    let otherBlocks = try KroneckerFactorFile.readOthers(file, others, options: options, problem: problem)
    try self.init(problem, options: options, factors: factors, otherBlocks: otherBlocks)
  }
}

extension EKFACOperator {
  /// Saves the eigenbases and corrected eigenvalues (computing them first if needed) as a
  /// safetensors file, with the options and the selected blocks in its metadata; a mixed
  /// operator also its other parameter blocks.
  /// - Throws: What computing the factors throws; `FileFormatError` when writing fails.
  public func save(to url: URL) throws {
    let factors = try computeFactors()
    var arrays = [(name: String, array: NDArray<Scalar>)]()
    for layer in factors {
      let prefix = "layer.\(layer.layer)"
      if let qa = layer.inputBasis { arrays.append(("\(prefix).A.eigenvectors", qa)) }
      arrays.append(("\(prefix).B.eigenvectors", layer.gradientBasis))
      if let values = layer.eigenvalues { arrays.append(("\(prefix).eigenvalues", values)) }
      if let values = layer.biasEigenvalues { arrays.append(("\(prefix).bias.eigenvalues", values)) }
    }
    arrays += KroneckerFactorFile.otherTensors(try otherParameterBlocks())
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
    let (file, options, layout, others) = try KroneckerFactorFile.open(url, format: "curvature.ekfac", problem: problem) { layer in
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
    let otherBlocks = try KroneckerFactorFile.readOthers(file, others, options: options, problem: problem)
    try self.init(problem, options: options, factors: factors, otherBlocks: otherBlocks)
  }
}
