import Foundation
import CurvatureNumerics

/// A network and its loss as described by `model.json`, Curvature's model format:
///
/// ```json
/// {"layers": [{"type": "linear", "in_features": 5, "out_features": 7, "bias": true},
///             {"type": "tanh"},
///             {"type": "conv2d", "in_channels": 2, "out_channels": 3, "kernel_size": [3, 3],
///              "stride": [1, 1], "padding": [1, 1], "dilation": [1, 1], "groups": 1, "bias": true},
///             {"type": "relu"}, {"type": "sigmoid"}, {"type": "gelu"}, {"type": "softplus"},
///             {"type": "flatten"}],
///  "loss": {"type": "cross_entropy", "reduction": "mean"}}
/// ```
///
/// `stride`, `padding`, `dilation`, `groups` and `bias` may be omitted (PyTorch's defaults);
/// an integer stands for both spatial axes. Weights live in a safetensors file whose keys are
/// `nn.Sequential`'s `state_dict` names: `"0.weight"`, `"0.bias"`, `"2.weight"`, ...
///
/// A file whose top-level object has `"format": 2` describes a graph of PyTorch ops instead
/// (`docs/ModelFormat.md`), loaded as a `GraphModel`; `network` gives either kind as a
/// `DifferentiableModel`, `model` the `Sequential` of a format-1 file.
public struct ModelFile<Scalar: BLASScalar>: Sendable {
  /// What a model file describes.
  public enum Network: Sendable {
    /// A format-1 file: a chain of layers.
    case sequential(Sequential<Scalar>)
    /// A format-2 file: a graph of ops.
    case graph(GraphModel<Scalar>)
  }

  /// The network, of either format.
  public var content: Network
  /// The loss.
  public var loss: Loss<Scalar>

  /// The network of a format-1 file, with parameters (initialized, or loaded from weights).
  ///
  /// Setting it makes the file a format-1 file.
  /// - Precondition: The file is a format-1 file (`sequential` is not nil); use `network`
  ///   for files of either format.
  public var model: Sequential<Scalar> {
    get {
      guard case .sequential(let sequential) = content else {
        preconditionFailure("ModelFile.model: the file describes a graph model (format 2); use `network` or `graph`")
      }
      return sequential
    }
    set { content = .sequential(newValue) }
  }

  /// The network as a differentiable model, for files of either format.
  public var network: any DifferentiableModel<Scalar> {
    switch content {
    case .sequential(let sequential): return sequential
    case .graph(let graph): return graph
    }
  }

  /// The `Sequential` of a format-1 file, nil for a graph.
  public var sequential: Sequential<Scalar>? {
    guard case .sequential(let sequential) = content else { return nil }
    return sequential
  }

  /// The `GraphModel` of a format-2 file, nil for a `Sequential`.
  public var graph: GraphModel<Scalar>? {
    guard case .graph(let graph) = content else { return nil }
    return graph
  }

  /// A model file's contents from its parts.
  public init(model: Sequential<Scalar>, loss: Loss<Scalar>) {
    self.content = .sequential(model)
    self.loss = loss
  }

  /// A graph model file's contents from its parts.
  public init(graph: GraphModel<Scalar>, loss: Loss<Scalar>) {
    self.content = .graph(graph)
    self.loss = loss
  }

  /// Reads `model.json` and, when given, the weights; without weights the parameters are
  /// initialized as PyTorch would (seeded) for a format-1 file, as
  /// `GraphModel.initialValues` describes for a graph.
  /// - Parameters:
  ///   - description: The `model.json` file.
  ///   - weights: A safetensors file with one tensor per parameter block (any of F32, F64,
  ///     F16, BF16; a graph's buffers also I64, I32, BOOL), converted to `Scalar`.
  ///   - seed: The initialization seed when `weights` is nil.
  /// - Throws: `FileFormatError` naming the file, the field or key, and what was expected:
  ///   unknown layer type, missing or ill-typed field, features that do not chain, layer
  ///   sizes too large to allocate, weight key missing or extra, weight shape not matching
  ///   the layer, malformed files; for a graph, everything `docs/ModelFormat.md`'s
  ///   "Validation" lists, naming the node.
  public init(description: URL, weights: URL? = nil, seed: UInt64 = 0) throws {
    let path = description.path
    let data: Data
    do {
      data = try Data(contentsOf: description)
    } catch {
      throw FileFormatError(path: path, location: "file", problem: "cannot read the file", expected: "a readable model.json", found: "\(error.localizedDescription)")
    }
    try self.init(json: data, path: path, seed: seed, requireWeights: weights != nil)
    if let weights {
      try loadWeights(from: weights)
    }
  }

  /// Parses a model description from JSON bytes.
  /// - Throws: `FileFormatError` (located at `path`) for every malformed or inconsistent field,
  ///   a key repeated within an object, and a model with more than 2³¹ − 1 parameters
  ///   (BLAS's 32-bit lengths); for a graph, everything `docs/ModelFormat.md`'s
  ///   "Validation" lists, naming the node.
  public init(json: Data, path: String = "model.json", seed: UInt64 = 0) throws {
    try self.init(json: json, path: path, seed: seed, requireWeights: false)
  }

  init(json: Data, path: String, seed: UInt64, requireWeights: Bool) throws {
    if ModelFile.isGraphFile(json) {
      let document = try GraphDocument(json: json, path: path)
      // With weights coming, buffers without defaults are filled by them.
      let graph = try GraphModel<Scalar>(document: document, path: path, seed: seed, buffersFromWeights: requireWeights)
      content = .graph(graph)
      let options = document.loss
      // label_smoothing was checked to be in [0, 1], so crossEntropy cannot throw.
      loss = options.kind == .crossEntropy
        ? ((try? Loss<Scalar>.crossEntropy(
          reduction: options.reduction, ignoreIndex: options.ignoreIndex, labelSmoothing: options.labelSmoothing))
          ?? Loss(options.kind, reduction: options.reduction))
        : Loss(options.kind, reduction: options.reduction)
      return
    }
    let description: ModelDescription
    let layers: [any Layer<Scalar>]
    do {
      description = try decodeJSONWithoutDuplicateKeys(ModelDescription.self, from: [UInt8](json))
      layers = try description.makeLayers(as: Scalar.self)
    } catch let error as JSONFieldError {
      throw error.located(in: path)
    } catch {
      throw FileFormatError(path: path, location: "document", problem: "not valid JSON", expected: "a JSON object with 'layers' and 'loss'", found: "unparsable text")
    }
    loss = description.loss.makeLoss(as: Scalar.self)
    do {
      content = .sequential(try Sequential(layers, seed: seed))
    } catch let error as ModelError {
      // Only the layers' own inconsistencies are a fault of the file.
      switch error {
      case .wrongShape, .invalidConfiguration, .parameterMismatch: break
      default: throw error
      }
      throw FileFormatError(path: path, location: "field 'layers'", problem: "layers do not fit together", expected: "chaining feature and channel counts", found: error.description)
    }
  }

  /// Whether JSON text is a format-2 file: an object with a `format` field (format-1 files
  /// have none; `GraphDocument` then checks that it is 2).
  static func isGraphFile(_ json: Data) -> Bool {
    (try? JSONDecoder().decode(FormatProbe.self, from: json))?.hasFormat ?? false
  }

  /// Replaces the parameters with those of a safetensors file keyed by `state_dict` names.
  /// - Throws: `FileFormatError` for a missing or extra key or a shape mismatch, or what
  ///   reading the file throws.
  public mutating func loadWeights(from url: URL) throws {
    if case .graph(var graph) = content {
      try graph.loadWeights(from: url)
      content = .graph(graph)
      return
    }
    var model = self.model
    defer { content = .sequential(model) }
    let file = try SafetensorsFile(contentsOf: url)
    let expected = Set(model.parameterNames)
    for name in file.names where !expected.contains(name) {
      throw FileFormatError(
        path: url.path, location: "tensor '\(name)'", problem: "extra weight key",
        expected: "only the model's parameters (\(model.parameterNames.joined(separator: ", ")))", found: "'\(name)'")
    }
    var values = [NDArray<Scalar>]()
    for spec in model.parameterSpecs {
      guard let info = file.info(named: spec.name) else {
        throw FileFormatError(
          path: url.path, location: "tensor '\(spec.name)'", problem: "missing weight key",
          expected: "a tensor of shape \(spec.shape)", found: "no such key (keys: \(file.names.joined(separator: ", ")))")
      }
      // The header's shape decides the allocation: check it before reading anything.
      guard info.shape == spec.shape else {
        throw FileFormatError(
          path: url.path, location: "tensor '\(spec.name)'", problem: "weight shape does not match the layer",
          expected: "\(spec.shape)", found: "\(info.shape)")
      }
      values.append(try file.array(named: spec.name, as: Scalar.self, requireFinite: true))
    }
    try model.setParameters(values)
  }

  /// The `model.json` text for this model and loss.
  public func jsonData() throws -> Data {
    if let graph { return graph.text }
    let object: JSONValue = .object([
      "layers": .array(model.layers.map { .object($0.jsonObject) }),
      "loss": LossDescription.jsonObject(loss),
    ])
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    return try encoder.encode(object)
  }

  /// Writes `model.json` and, when given a URL, the weights as safetensors; each file is
  /// written to a temporary file and moved into place (through a symbolic link).
  /// - Throws: `FileFormatError` when a file cannot be written, or its path is a directory,
  ///   a FIFO or a device.
  public func write(description: URL, weights: URL? = nil) throws {
    let writer = try SequentialFileWriter(url: description)
    try writer.write([UInt8](try jsonData()))
    try writer.close()
    guard let weights else { return }
    if let graph {
      let names = graph.parameterSpecs.map(\.name) + graph.bufferSpecs.map(\.name)
      try SafetensorsWriter.write(Array(zip(names, graph.parameters + graph.buffers)).map { (name: $0.0, array: $0.1) }, to: weights)
      return
    }
    try SafetensorsWriter.write(Array(zip(model.parameterNames, model.parameters)).map { (name: $0.0, array: $0.1) }, to: weights)
  }
}

/// Whether a JSON object has a `format` field (decodes any object).
private struct FormatProbe: Decodable {
  var hasFormat: Bool
  init(from decoder: any Decoder) throws {
    hasFormat = try decoder.container(keyedBy: JSONKey.self).contains(JSONKey("format"))
  }
}
