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
public struct ModelFile<Scalar: BLASScalar>: Sendable {
  /// The network, with parameters (initialized, or loaded from weights).
  public var model: Sequential<Scalar>
  /// The loss.
  public var loss: Loss<Scalar>

  /// A model file's contents from its parts.
  public init(model: Sequential<Scalar>, loss: Loss<Scalar>) {
    self.model = model
    self.loss = loss
  }

  /// Reads `model.json` and, when given, the weights; without weights the parameters are
  /// initialized as PyTorch would (seeded).
  /// - Parameters:
  ///   - description: The `model.json` file.
  ///   - weights: A safetensors file with one tensor per parameter block (any of F32, F64,
  ///     F16, BF16), converted to `Scalar`.
  ///   - seed: The initialization seed when `weights` is nil.
  /// - Throws: `FileFormatError` naming the file, the field or key, and what was expected:
  ///   unknown layer type, missing or ill-typed field, features that do not chain, layer
  ///   sizes too large to allocate, weight key missing or extra, weight shape not matching
  ///   the layer, malformed files.
  public init(description: URL, weights: URL? = nil, seed: UInt64 = 0) throws {
    let path = description.path
    let data: Data
    do {
      data = try Data(contentsOf: description)
    } catch {
      throw FileFormatError(path: path, location: "file", problem: "cannot read the file", expected: "a readable model.json", found: "\(error.localizedDescription)")
    }
    try self.init(json: data, path: path, seed: seed)
    if let weights {
      try loadWeights(from: weights)
    }
  }

  /// Parses a model description from JSON bytes.
  /// - Throws: `FileFormatError` (located at `path`) for every malformed or inconsistent field,
  ///   a key repeated within an object, and a model with more than 2³¹ − 1 parameters
  ///   (BLAS's 32-bit lengths).
  public init(json: Data, path: String = "model.json", seed: UInt64 = 0) throws {
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
      model = try Sequential(layers, seed: seed)
    } catch let error as ModelError {
      // Only the layers' own inconsistencies are a fault of the file.
      switch error {
      case .wrongShape, .invalidConfiguration, .parameterMismatch: break
      default: throw error
      }
      throw FileFormatError(path: path, location: "field 'layers'", problem: "layers do not fit together", expected: "chaining feature and channel counts", found: error.description)
    }
  }

  /// Replaces the parameters with those of a safetensors file keyed by `state_dict` names.
  /// - Throws: `FileFormatError` for a missing or extra key or a shape mismatch, or what
  ///   reading the file throws.
  public mutating func loadWeights(from url: URL) throws {
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
    if let weights {
      try SafetensorsWriter.write(Array(zip(model.parameterNames, model.parameters)).map { (name: $0.0, array: $0.1) }, to: weights)
    }
  }
}
