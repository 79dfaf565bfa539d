import CurvatureNumerics
import CurvatureAutodiff

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// A network given as a directed acyclic graph of named PyTorch ops: `model.json` format 2
/// (`docs/ModelFormat.md`), as written by the exporter in `python/` from any `nn.Module`.
///
/// Loading checks the whole graph before anything runs: every name is unique and refers to
/// an earlier value, every op and attribute is known, every shape is inferred (batch axis
/// `-1`) and equals the declared one, and no op acts on the batch axis. The forward pass then
/// evaluates the nodes in file order on tensors, so it is differentiable in the parameters to
/// any order, as every curvature operator needs.
///
/// ```swift
/// let file = try ModelFile<Double>(description: modelURL, weights: weightsURL)
/// let model = file.graph!                              // a GraphModel<Double>
/// let y = model([Tensor(ids)], parameters: model.parameters.map { Tensor($0) })
/// ```
///
/// Parameters are the file's `parameters` in order (PyTorch's `named_parameters()`), so
/// the flat parameter vector of every operator is theirs, each block flattened row-major.
/// Buffers (running statistics, folded constants) are fixed values, not parameters.
public struct GraphModel<Scalar: BLASScalar>: DifferentiableModel, CustomStringConvertible {
  /// The graph inputs, in the forward's order (first extent `-1`, the batch axis).
  public let inputSpecs: [GraphValueSpec]
  /// The parameter blocks, in the order of the flat parameter vector.
  public let parameterSpecs: [ParameterSpec]
  /// The current parameter values, one per block.
  public private(set) var parameters: [NDArray<Scalar>]
  /// The buffers' names, shapes and dtypes.
  public let bufferSpecs: [GraphValueSpec]
  /// The buffers' values (integers and booleans as exact numbers).
  public private(set) var buffers: [NDArray<Scalar>]
  /// The name of the node whose value is the output.
  public let outputName: String
  /// The output's shape, batch axis `-1`.
  public let outputShape: [Int]

  /// The nodes, checked and in evaluation order.
  let nodes: [GraphNodePlan]
  /// The value slot of the output.
  let outputSlot: Int
  /// For each graph input, the vocabulary sizes of the embeddings that read it directly
  /// (checked against the data before a forward pass), with the node's name.
  let embeddingLimits: [[(node: String, rows: Int)]]
  /// For each buffer, the vocabulary sizes of the embeddings that read it directly.
  let bufferEmbeddingLimits: [[(node: String, rows: Int)]]
  /// The file's text (for writing the model back).
  let text: Data

  public var inputCount: Int { inputSpecs.count }

  /// The number of nodes.
  public var nodeCount: Int { nodes.count }

  /// The total number of scalar parameters `P`.
  public var parameterCount: Int { parameterSpecs.reduce(0) { $0 + $1.count } }

  /// Reads a format-2 `model.json` (its `loss` is read by `ModelFile`), initializing the
  /// parameters from `seed` (see `initialValues(parameters:buffers:seed:path:buffersFromWeights:)`); load weights with
  /// `loadWeights(from:)`.
  /// - Parameters:
  ///   - json: The file's bytes.
  ///   - path: The file's path, named in errors.
  ///   - seed: The initialization seed.
  /// - Throws: `FileFormatError` naming the file, the node and the problem for anything
  ///   `docs/ModelFormat.md`'s "Validation" lists.
  public init(json: Data, path: String = "model.json", seed: UInt64 = 0) throws {
    try self.init(document: try GraphDocument(json: json, path: path), path: path, seed: seed)
  }

  /// - Parameter buffersFromWeights: Weights will be loaded: buffers without a default
  ///   start as zeros instead of being an error.
  init(document: GraphDocument, path: String, seed: UInt64, buffersFromWeights: Bool = false) throws {
    let checked = try GraphChecker(document: document, path: path).check()
    inputSpecs = document.inputs
    parameterSpecs = document.parameters.map { ParameterSpec(name: $0.name, shape: $0.shape) }
    bufferSpecs = document.buffers
    nodes = checked.nodes
    outputSlot = checked.outputSlot
    outputName = document.output
    outputShape = checked.outputShape
    embeddingLimits = checked.embeddingLimits
    bufferEmbeddingLimits = checked.bufferEmbeddingLimits
    text = document.text
    let initial = try GraphModel.initialValues(
      parameters: parameterSpecs, buffers: bufferSpecs, seed: seed, path: path, buffersFromWeights: buffersFromWeights)
    parameters = initial.parameters
    buffers = initial.buffers
  }

  /// The same graph in another precision, parameters and buffers converted (rounded to
  /// nearest; integer buffers beyond 2²⁴ are not exact in `Float`).
  /// - Returns: The converted model.
  public func converted<Other: BLASScalar>(to _: Other.Type = Other.self) -> GraphModel<Other> {
    GraphModel<Other>(converting: self)
  }

  init<Source: BLASScalar>(converting source: GraphModel<Source>) {
    inputSpecs = source.inputSpecs
    parameterSpecs = source.parameterSpecs
    parameters = source.parameters.map { $0.converted(to: Scalar.self) }
    bufferSpecs = source.bufferSpecs
    buffers = source.buffers.map { $0.converted(to: Scalar.self) }
    outputName = source.outputName
    outputShape = source.outputShape
    nodes = source.nodes
    outputSlot = source.outputSlot
    embeddingLimits = source.embeddingLimits
    bufferEmbeddingLimits = source.bufferEmbeddingLimits
    text = source.text
  }

  /// Replaces the parameter values.
  /// - Throws: `ModelError.parameterMismatch` naming a block whose shape differs, or a
  ///   wrong number of blocks.
  public mutating func setParameters(_ values: [NDArray<Scalar>]) throws {
    guard values.count == parameterSpecs.count else {
      throw ModelError.parameterMismatch("the graph has \(parameterSpecs.count) parameter blocks, \(values.count) were given")
    }
    for (spec, value) in zip(parameterSpecs, values) where spec.shape != value.shape {
      throw ModelError.parameterMismatch("\(spec.name) has shape \(value.shape), the graph needs \(spec.shape)")
    }
    parameters = values
  }

  /// Replaces the buffer values.
  /// - Throws: `ModelError.parameterMismatch` naming a buffer whose shape differs, a
  ///   wrong number of buffers, or a buffer read by an embedding that holds something other
  ///   than an index into its rows (naming the embedding).
  public mutating func setBuffers(_ values: [NDArray<Scalar>]) throws {
    guard values.count == bufferSpecs.count else {
      throw ModelError.parameterMismatch("the graph has \(bufferSpecs.count) buffers, \(values.count) were given")
    }
    for (spec, value) in zip(bufferSpecs, values) where spec.shape != value.shape {
      throw ModelError.parameterMismatch("buffer \(spec.name) has shape \(value.shape), the graph needs \(spec.shape)")
    }
    for (index, limits) in bufferEmbeddingLimits.enumerated() {
      for (node, rows) in limits {
        if let bad = values[index].scalars.firstIndex(where: { $0 != $0.rounded() || $0 < 0 || $0 >= Scalar(rows) }) {
          throw ModelError.parameterMismatch(
            "buffer \(bufferSpecs[index].name) holds \(values[index].scalars[bad]) at flat index \(bad), not an index into the \(rows) rows of embedding '\(node)'")
        }
      }
    }
    buffers = values
  }

  /// A one-line summary: inputs, nodes, parameters and the output.
  public var description: String {
    "GraphModel(\(inputSpecs.count) input\(inputSpecs.count == 1 ? "" : "s"), \(nodes.count) nodes, \(parameterCount) parameters, output '\(outputName)' \(outputShape))"
  }

  /// The output for a single-input graph.
  /// - Precondition: The graph has one input.
  public func callAsFunction(_ input: Tensor<Scalar>, parameters: [Tensor<Scalar>]) -> Tensor<Scalar> {
    self([input], parameters: parameters)
  }

  /// The output for all graph inputs (in `inputSpecs` order) and parameter tensors.
  ///
  /// Values are released after their last use, so memory holds what the autodiff graph
  /// keeps plus the live values.
  /// - Precondition: The inputs fit (`checkInputs` accepts their values) and there is one
  ///   parameter tensor per block, shaped like it.
  /// - Complexity: One evaluation of each node.
  public func callAsFunction(_ inputs: [Tensor<Scalar>], parameters: [Tensor<Scalar>]) -> Tensor<Scalar> {
    precondition(inputs.count == inputSpecs.count, "GraphModel: \(inputs.count) input tensors for \(inputSpecs.count) graph inputs")
    precondition(parameters.count == parameterSpecs.count, "GraphModel: \(parameters.count) parameter tensors for \(parameterSpecs.count) blocks")
    let batchSize = inputs[0].shape.first ?? 1
    var values = [Tensor<Scalar>?](repeating: nil, count: inputs.count + parameters.count + buffers.count + nodes.count)
    var slot = 0
    for tensor in inputs + parameters + buffers.map({ Tensor($0) }) {
      values[slot] = tensor
      slot += 1
    }
    for node in nodes {
      values[slot] = node.evaluate(node.inputs.map { values[$0]! }, batchSize: batchSize)
      for released in node.releases { values[released] = nil }
      slot += 1
    }
    return values[outputSlot]!
  }

  /// The output for input arrays with the model's own parameters, without recording.
  /// - Throws: What `checkInputs` throws.
  public func predict(_ inputs: [NDArray<Scalar>]) throws -> NDArray<Scalar> {
    try checkInputs(inputs)
    return AutodiffMode.withoutRecording {
      self(inputs.map { Tensor($0) }, parameters: parameters.map { Tensor($0) }).value
    }
  }

  /// Checks a batch's input arrays: one per graph input, shaped as declared with the same
  /// number of data points, integer and boolean inputs holding exact integers (0 or 1),
  /// and indices read by an embedding within its rows.
  /// - Throws: `ModelError.shapeMismatch` naming the input for a wrong count or shape;
  ///   `DataError` naming the input, element and data point for a value that does not fit.
  public func checkInputs(_ inputs: [NDArray<Scalar>]) throws {
    guard inputs.count == inputSpecs.count else {
      throw ModelError.shapeMismatch(
        "the graph takes \(inputSpecs.count) input\(inputSpecs.count == 1 ? "" : "s") (\(inputSpecs.map(\.name).joined(separator: ", "))), the data have \(inputs.count)")
    }
    let count = inputs[0].shape.first ?? 0
    for (spec, array) in zip(inputSpecs, inputs) {
      guard array.rank == spec.shape.count, array.shape.dropFirst().elementsEqual(spec.shape.dropFirst()), array.shape[0] == count
      else {
        throw ModelError.shapeMismatch(
          "graph input '\(spec.name)' needs shape \(spec.shape) (-1: the data points, \(count) here), the data have \(array.shape)")
      }
    }
    for (index, (spec, array)) in zip(inputSpecs, inputs).enumerated() where spec.dtype != .float {
      let limit = embeddingLimits[index].map(\.rows).min()
      let perPoint = Swift.max(1, array.count / Swift.max(count, 1))
      let bad = array.scalars.firstIndex { value in
        guard value == value.rounded() else { return true }
        if spec.dtype == .bool && value != 0 && value != 1 { return true }
        if let limit, value < 0 || value >= Scalar(limit) { return true }
        return false
      }
      if let bad {
        let value = array.scalars[bad]
        var what = spec.dtype == .bool ? "a boolean (0 or 1)" : "an integer"
        if value == value.rounded(), let limit, let node = embeddingLimits[index].first(where: { $0.rows == limit })?.node {
          what = "an index into the \(limit) rows of embedding '\(node)' (0..<\(limit))"
        }
        throw DataError(
          "graph input '\(spec.name)' (\(spec.dtype.rawValue)): element \(bad) of the batch (its data point \(bad / perPoint)) is \(value), not \(what)")
      }
    }
  }
}

/// One checked node: its op, the value slots it reads, its inferred shape, and the slots
/// whose last use it is.
struct GraphNodePlan: Sendable {
  var name: String
  var op: GraphOp
  var inputs: [Int]
  /// The output shape, batch axis `-1`.
  var shape: [Int]
  var batched: Bool
  var dtype: GraphDType
  /// Slots no later node reads (freed after this node).
  var releases: [Int] = []

  /// `shape` with the batch axis set to `batchSize`.
  func resolvedShape(batchSize: Int) -> [Int] {
    batched ? [batchSize] + shape.dropFirst() : shape
  }
}
