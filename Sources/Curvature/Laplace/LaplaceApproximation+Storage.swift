import CurvatureNumerics
import CurvatureNN

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

// A fitted posterior as a directory of two files:
//
//   laplace.json           LaplaceFileDescription: format "curvature.laplace", format_version
//                          1, structure (and KFAC options or rank), likelihood, subset, dtype,
//                          covered blocks and shapes, data points, outputs per point, and for
//                          kron the Kronecker groups (tensor position and flat offset), and
//                          a fingerprint of all the model's parameters.
//   posterior.safetensors  mean [P], prior_precision, sigma_noise [1], summed_loss [1], and
//                          the curvature: full/diag "curvature"; lowrank "eigenvectors"
//                          [P, k], "eigenvalues" [k]; kron "group.<g>.B.values",
//                          "group.<g>.B.vectors" and, for a weight, "group.<g>.A.values",
//                          "group.<g>.A.vectors" (eigendecomposed factors, so a loaded
//                          posterior is bit-for-bit the saved one); ekfac the same and
//                          "group.<g>.values", the corrected eigenvalues. "damping" (kron)
//                          is absent or false for an undamped posterior.

/// The JSON half of a saved Laplace approximation.
struct LaplaceFileDescription: Codable, Equatable {
  struct Group: Codable, Equatable {
    var tensor: Int
    var offset: Int
    var weight: Bool
  }
  var format = LaplaceFileDescription.formatName
  var formatVersion = LaplaceFileDescription.version
  var structure: String
  var kfac: KFACOptions?
  var rank: Int?
  var likelihood: LaplaceLikelihood
  var subset: LaplaceSubset
  var dtype: String
  var blocks: [Int]
  var blockShapes: [[Int]]
  var dataPoints: Int
  var outputCount: Int
  var groups: [Group]?
  /// laplace-torch's kron damping (absent: false).
  var damping: Bool? = nil
  /// FNV-1a of every model parameter's bits (all blocks, not only the covered ones), so a
  /// posterior is not loaded onto another network (e.g. other features under a last layer).
  var modelFingerprint: String

  static let formatName = "curvature.laplace"
  static let version = 1
  static let jsonName = "laplace.json"
  static let tensorsName = "posterior.safetensors"

  enum CodingKeys: String, CodingKey {
    case format, formatVersion = "format_version", structure, kfac, rank, likelihood, subset, dtype, blocks
    case blockShapes = "block_shapes", dataPoints = "data_points", outputCount = "output_count", groups
    case modelFingerprint = "model_fingerprint", damping
  }

  /// FNV-1a (64 bit) over the parameters' values as float64 bit patterns, in hex.
  static func fingerprint<T: BLASScalar>(_ parameters: [NDArray<T>]) -> String {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for array in parameters {
      for value in array.scalars {
        var bits = Double(value).bitPattern
        for _ in 0..<8 {
          hash = (hash ^ (bits & 0xff)) &* 0x0000_0100_0000_01b3
          bits >>= 8
        }
      }
    }
    return String(hash, radix: 16)
  }
}

extension LaplaceApproximation {
  /// Saves the fitted posterior into a directory (created if needed): `laplace.json` and
  /// `posterior.safetensors`. Each file is written to a temporary name and moved into
  /// place, so a failure leaves no partial file.
  /// - Parameter directory: The destination directory.
  /// - Throws: File-system errors; `FileFormatError` when writing the tensors fails.
  public func save(to directory: URL) throws {
    let manager = FileManager.default
    try manager.createDirectory(at: directory, withIntermediateDirectories: true)
    var arrays: [(name: String, array: NDArray<Scalar>)] = [
      ("mean", mean), ("prior_precision", NDArray(priorPrecision)), ("sigma_noise", NDArray([sigmaNoise])),
      ("summed_loss", NDArray([summedLoss])),
    ]
    var groups: [LaplaceFileDescription.Group]? = nil
    switch curvature {
    case let .full(h), let .diag(h): arrays.append(("curvature", h))
    case let .lowRank(vectors, values):
      arrays += [("eigenvectors", vectors), ("eigenvalues", values)]
    case let .kron(list):
      groups = []
      for (g, group) in list.enumerated() {
        arrays += [("group.\(g).B.values", group.leftValues), ("group.\(g).B.vectors", group.leftVectors)]
        if let corrected = group.corrected { arrays.append(("group.\(g).values", corrected)) }
        if let values = group.rightValues, let vectors = group.rightVectors {
          arrays += [("group.\(g).A.values", values), ("group.\(g).A.vectors", vectors)]
        }
        groups!.append(.init(tensor: group.tensor, offset: group.offset, weight: group.rightValues != nil))
      }
    }
    var kfac: KFACOptions? = nil, rank: Int? = nil
    if case let .kron(options) = structure { kfac = options }
    if case let .ekfac(options) = structure { kfac = options }
    if case let .lowRank(k) = structure { rank = k }
    let description = LaplaceFileDescription(
      structure: structure.name, kfac: kfac, rank: rank, likelihood: likelihood, subset: subset,
      dtype: Scalar.dtypeName, blocks: problem.blocks, blockShapes: problem.selectedSpecs.map(\.shape),
      dataPoints: dataCount, outputCount: outputCount, groups: groups, damping: damping ? true : nil, modelFingerprint: LaplaceFileDescription.fingerprint(problem.model.parameters))
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    let json = try encoder.encode(description)
    let tensors = directory.appendingPathComponent(LaplaceFileDescription.tensorsName)
    let jsonURL = directory.appendingPathComponent(LaplaceFileDescription.jsonName)
    let temporaryTensors = directory.appendingPathComponent(".\(LaplaceFileDescription.tensorsName).partial")
    let temporaryJSON = directory.appendingPathComponent(".\(LaplaceFileDescription.jsonName).partial")
    defer {
      try? manager.removeItem(at: temporaryTensors)
      try? manager.removeItem(at: temporaryJSON)
    }
    try SafetensorsWriter.write(arrays, to: temporaryTensors, metadata: ["format": LaplaceFileDescription.formatName])
    try json.write(to: temporaryJSON)
    for (from, to) in [(temporaryTensors, tensors), (temporaryJSON, jsonURL)] {
      if manager.fileExists(atPath: to.path) { try manager.removeItem(at: to) }
      try manager.moveItem(at: from, to: to)
    }
  }

  /// Loads a posterior saved by `save(to:)` for the same model (at the same parameters)
  /// and training data.
  /// - Parameters:
  ///   - problem: The model, loss and data it was fitted on (all blocks or the same
  ///     selection; the last layer is selected again for a last-layer posterior).
  ///   - directory: The directory `save(to:)` wrote.
  /// - Throws: `FileFormatError` for a missing or malformed file, another format or
  ///   version, or another scalar type; `CurvatureError.parameterMismatch` when the covered
  ///   blocks, their shapes, the data count or the model's parameters differ from the
  ///   saved posterior's.
  public init(_ problem: CurvatureProblem<Scalar>, contentsOf directory: URL) throws {
    let jsonURL = directory.appendingPathComponent(LaplaceFileDescription.jsonName)
    let description: LaplaceFileDescription
    do {
      description = try JSONDecoder().decode(LaplaceFileDescription.self, from: Data(contentsOf: jsonURL))
    } catch {
      throw FileFormatError(
        path: jsonURL.path, location: "file", problem: "not a readable Laplace description",
        expected: "the laplace.json written by LaplaceApproximation.save(to:)", found: "\(error)")
    }
    func bad(_ location: String, _ expected: String, _ found: String) -> FileFormatError {
      FileFormatError(path: jsonURL.path, location: location, problem: "unsupported value", expected: expected, found: found)
    }
    guard description.format == LaplaceFileDescription.formatName else {
      throw bad("format", "'\(LaplaceFileDescription.formatName)'", "'\(description.format)'")
    }
    guard description.formatVersion == LaplaceFileDescription.version else {
      throw bad("format_version", "\(LaplaceFileDescription.version)", "\(description.formatVersion)")
    }
    guard description.dtype == Scalar.dtypeName else {
      throw bad("dtype", "\(Scalar.dtypeName) for a \(Scalar.dtypeName) problem", "'\(description.dtype)'")
    }
    let covered = description.subset == .all ? problem : try LaplaceApproximation.lastLayerProblem(problem)
    guard covered.blocks == description.blocks, covered.selectedSpecs.map(\.shape) == description.blockShapes,
          covered.data.count == description.dataPoints, covered.sampleOutputShape == [description.outputCount] else {
      throw CurvatureError.parameterMismatch(
        "the saved Laplace posterior covers blocks \(description.blocks) of shapes \(description.blockShapes) on \(description.dataPoints) data points; this problem has blocks \(covered.blocks) of shapes \(covered.selectedSpecs.map(\.shape)) on \(covered.data.count)")
    }
    let tensorsURL = directory.appendingPathComponent(LaplaceFileDescription.tensorsName)
    let file = try SafetensorsFile(contentsOf: tensorsURL)
    func array(_ name: String) throws -> NDArray<Scalar> { try file.array(named: name, as: Scalar.self) }
    let structure: LaplaceStructure
    let curvature: LaplaceCurvature<Scalar>
    switch description.structure {
    case "full":
      structure = .full
      curvature = .full(try array("curvature"))
    case "diag":
      structure = .diag
      curvature = .diag(try array("curvature"))
    case "lowrank":
      guard let rank = description.rank else { throw bad("rank", "the rank of a lowrank posterior", "none") }
      structure = .lowRank(rank: rank)
      curvature = .lowRank(vectors: try array("eigenvectors"), values: try array("eigenvalues"))
    case "kron", "ekfac":
      guard let options = description.kfac, let groups = description.groups else {
        throw bad("kfac", "the KFAC options and groups of a \(description.structure) posterior", "none")
      }
      let corrected = description.structure == "ekfac"
      structure = corrected ? .ekfac(options) : .kron(options)
      curvature = .kron(try groups.enumerated().map { g, group in
        LaplaceKroneckerGroup(
          tensor: group.tensor, offset: group.offset,
          leftValues: try array("group.\(g).B.values"), leftVectors: try array("group.\(g).B.vectors"),
          rightValues: group.weight ? try array("group.\(g).A.values") : nil,
          rightVectors: group.weight ? try array("group.\(g).A.vectors") : nil,
          corrected: corrected ? try array("group.\(g).values") : nil)
      })
    default:
      throw bad("structure", "full, diag, kron, ekfac or lowrank", "'\(description.structure)'")
    }
    let mean = try array("mean")
    let p = covered.dimension
    let shapesFit: Bool
    switch curvature {
    case let .full(h): shapesFit = h.shape == [p, p]
    case let .diag(h): shapesFit = h.shape == [p]
    case let .lowRank(vectors, values): shapesFit = vectors.rank == 2 && vectors.shape[0] == p && values.shape == [vectors.shape[1]]
    case let .kron(groups):
      shapesFit = groups.reduce(0) { $0 + $1.dimension } == p && groups.allSatisfy {
        $0.leftVectors.rank == 2 && $0.leftVectors.shape == [$0.rows, $0.rows] && $0.leftValues.shape == [$0.rows]
          && $0.offset + $0.dimension <= p
          && ($0.rightValues == nil) == ($0.rightVectors == nil)
          && ($0.rightVectors == nil || ($0.rightVectors!.rank == 2 && $0.rightVectors!.shape == [$0.columns, $0.columns] && $0.rightValues!.shape == [$0.columns]))
          && ($0.corrected == nil || $0.corrected!.shape == [$0.dimension])
      }
    }
    guard shapesFit, mean.shape == [p] else {
      throw FileFormatError(
        path: tensorsURL.path, location: "tensors", problem: "shapes do not fit the posterior",
        expected: "a \(description.structure) posterior over \(p) parameters", found: "tensors \(file.names)")
    }
    let parameters = covered.blocks.flatMap { covered.model.parameters[$0].scalars }
    guard parameters == mean.scalars,
          LaplaceFileDescription.fingerprint(covered.model.parameters) == description.modelFingerprint else {
      throw CurvatureError.parameterMismatch("the model's parameters differ from the saved posterior's mean: load the posterior with the model it was fitted at")
    }
    try self.init(
      problem: covered, likelihood: description.likelihood, structure: structure, subset: description.subset, mean: mean,
      summedLoss: try array("summed_loss").scalars[0], curvature: curvature,
      priorPrecision: try array("prior_precision").scalars, sigmaNoise: try array("sigma_noise").scalars[0],
      damping: description.damping ?? false)
  }
}
