import CurvatureNumerics
import CurvatureAutodiff

/// `model.json` as decoded: its layer and loss objects, each field checked with an error
/// (`JSONFieldError`) that names it, such as `layers[2].kernel_size`.
struct ModelDescription: Decodable {
  var layers: [LayerDescription] = []
  var loss: LossDescription

  init(from decoder: any Decoder) throws {
    guard let object = try? decoder.container(keyedBy: JSONKey.self) else {
      throw JSONFieldError(
        "document", "not a JSON object", expected: "an object with 'layers' and 'loss'",
        found: JSONValue.found(in: decoder).summary)
    }
    for key in object.allKeys where key.stringValue != "layers" && key.stringValue != "loss" {
      throw JSONFieldError(
        "field '\(key.stringValue)'", "unknown top-level field", expected: "only 'layers' and 'loss'", found: "'\(key.stringValue)'")
    }
    let layersKey = JSONKey("layers")
    guard object.contains(layersKey), var items = try? object.nestedUnkeyedContainer(forKey: layersKey) else {
      throw JSONFieldError(
        "field 'layers'", object.contains(layersKey) ? "wrong type" : "missing field", expected: "an array of layer objects",
        found: object.contains(layersKey) ? ((try? object.decode(JSONValue.self, forKey: layersKey))?.summary ?? "null") : "nothing")
    }
    while !items.isAtEnd {
      layers.append(try items.decode(LayerDescription.self))
    }
    let lossKey = JSONKey("loss")
    guard object.contains(lossKey) else {
      throw JSONFieldError(
        "field 'loss'", "missing field",
        expected: "{\"type\": \"cross_entropy\" | \"mse\" | \"bce_with_logits\", \"reduction\": \"mean\" | \"sum\"}",
        found: "nothing")
    }
    loss = try object.decode(LossDescription.self, forKey: lossKey)
  }

  /// The most parameters a model may have: the flat parameter vector goes through BLAS,
  /// whose lengths are 32-bit.
  static let maximumParameterCount = Int(Int32.max)

  /// The layers, after checking that their parameter blocks can exist — no block's
  /// element count overflows, and the model's total is at most `maximumParameterCount` —
  /// before anything is allocated.
  /// - Throws: `JSONFieldError` naming the layer.
  func makeLayers<T: BLASScalar>(as _: T.Type) throws -> [any Layer<T>] {
    let layers = try self.layers.map { try $0.makeLayer(as: T.self) }
    var total = 0
    for (index, layer) in layers.enumerated() {
      for spec in layer.parameterSpecs {
        var count = 1, overflow = false
        for extent in spec.shape where !overflow {
          (count, overflow) = count.multipliedReportingOverflow(by: extent)
        }
        if !overflow { (total, overflow) = total.addingReportingOverflow(count) }
        if overflow || total > Self.maximumParameterCount {
          throw JSONFieldError(
            "layers[\(index)]", "model too large", expected: "at most \(Self.maximumParameterCount) parameters in all",
            found: "\(layer) with a \(spec.name) block of shape \(spec.shape)")
        }
      }
    }
    return layers
  }
}

/// One entry of `model.json`'s `layers`, with its fields checked (PyTorch's defaults for
/// the omitted ones).
struct LayerDescription: Decodable {
  enum Kind {
    case linear(inFeatures: Int, outFeatures: Int, bias: Bool)
    case conv2d(
      inChannels: Int, outChannels: Int, kernelSize: (Int, Int), stride: (Int, Int), padding: (Int, Int),
      dilation: (Int, Int), groups: Int, bias: Bool)
    case relu, tanh, sigmoid, gelu, softplus, flatten
  }

  /// `layers[i]`, for error messages.
  var location: String
  var kind: Kind

  /// The fields each layer type accepts (besides `type`).
  static let fields: [String: Set<String>] = [
    "linear": ["in_features", "out_features", "bias"],
    "conv2d": ["in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "bias"],
    "relu": [], "tanh": [], "sigmoid": [], "gelu": [], "softplus": [], "flatten": [],
  ]

  init(from decoder: any Decoder) throws {
    let location = "layers[\(decoder.codingPath.last?.intValue ?? 0)]"
    self.location = location
    guard let object = try? decoder.container(keyedBy: JSONKey.self) else {
      throw JSONFieldError(
        location, "a layer must be an object", expected: "{\"type\": ...}", found: JSONValue.found(in: decoder).summary)
    }
    let types = "one of \(Self.fields.keys.sorted().joined(separator: ", "))"
    guard object.contains(JSONKey("type")) else {
      throw JSONFieldError("\(location).type", "missing field", expected: types, found: "nothing")
    }
    guard let type = try? object.decode(String.self, forKey: JSONKey("type")), let allowed = Self.fields[type] else {
      let value = (try? object.decode(JSONValue.self, forKey: JSONKey("type"))) ?? .null
      throw JSONFieldError("\(location).type", "unknown layer type", expected: types, found: value.summary)
    }
    for key in object.allKeys where key.stringValue != "type" && !allowed.contains(key.stringValue) {
      throw JSONFieldError(
        "\(location).\(key.stringValue)", "unknown field for a \(type) layer",
        expected: allowed.isEmpty ? "no other fields" : "one of \(allowed.sorted().joined(separator: ", "))",
        found: "'\(key.stringValue)'")
    }
    let fields = Fields(object: object, location: location)
    switch type {
    case "linear":
      kind = .linear(
        inFeatures: try fields.integer("in_features", minimum: 1), outFeatures: try fields.integer("out_features", minimum: 1),
        bias: try fields.bool("bias", default: true))
    case "conv2d":
      let inChannels = try fields.integer("in_channels", minimum: 1)
      let outChannels = try fields.integer("out_channels", minimum: 1)
      let groups = try fields.integer("groups", minimum: 1, default: 1)
      guard inChannels % groups == 0, outChannels % groups == 0 else {
        throw JSONFieldError(
          "\(location).groups", "channels not divisible by groups",
          expected: "a divisor of in_channels \(inChannels) and out_channels \(outChannels)", found: "\(groups)")
      }
      kind = .conv2d(
        inChannels: inChannels, outChannels: outChannels, kernelSize: try fields.pair("kernel_size", minimum: 1),
        stride: try fields.pair("stride", minimum: 1, default: (1, 1)),
        padding: try fields.pair("padding", minimum: 0, default: (0, 0)),
        dilation: try fields.pair("dilation", minimum: 1, default: (1, 1)), groups: groups,
        bias: try fields.bool("bias", default: true))
    case "relu": kind = .relu
    case "tanh": kind = .tanh
    case "sigmoid": kind = .sigmoid
    case "gelu": kind = .gelu
    case "softplus": kind = .softplus
    default: kind = .flatten
    }
  }

  /// The layer this entry describes.
  /// - Throws: `JSONFieldError` for a convolution its initializer refuses.
  func makeLayer<T: BLASScalar>(as _: T.Type) throws -> any Layer<T> {
    switch kind {
    case let .linear(inFeatures, outFeatures, bias):
      return Linear<T>(inFeatures: inFeatures, outFeatures: outFeatures, bias: bias)
    case let .conv2d(inChannels, outChannels, kernelSize, stride, padding, dilation, groups, bias):
      do {
        return try Conv2d<T>(
          inChannels: inChannels, outChannels: outChannels, kernelSize: kernelSize, stride: stride, padding: padding,
          dilation: dilation, groups: groups, bias: bias)
      } catch let failure as ModelError {
        guard case .invalidConfiguration = failure else { throw failure }
        throw JSONFieldError(location, "invalid convolution", expected: "a valid Conv2d configuration", found: failure.description)
      }
    case .relu: return ReLU<T>()
    case .tanh: return Tanh<T>()
    case .sigmoid: return Sigmoid<T>()
    case .gelu: return GELU<T>()
    case .softplus: return Softplus<T>()
    case .flatten: return Flatten<T>()
    }
  }

  /// Typed access to one layer object's fields.
  struct Fields {
    let object: KeyedDecodingContainer<JSONKey>
    let location: String

    /// The value at `key`, for an error message.
    private func found(_ key: String) -> String {
      ((try? object.decode(JSONValue.self, forKey: JSONKey(key))) ?? .null).summary
    }

    /// An integer in `minimum..<1e9` (larger sizes cannot be allocated anyway).
    private func checked(_ value: Int?, _ key: String, minimum: Int, found: @autoclosure () -> String) throws -> Int {
      guard let value, value >= minimum, value < 1_000_000_000 else {
        throw JSONFieldError("\(location).\(key)", "not a valid integer", expected: "an integer ≥ \(minimum)", found: found())
      }
      return value
    }

    func integer(_ key: String, minimum: Int, default fallback: Int? = nil) throws -> Int {
      guard object.contains(JSONKey(key)) else {
        if let fallback { return fallback }
        throw JSONFieldError("\(location).\(key)", "missing field", expected: "a positive integer", found: "nothing")
      }
      return try checked(try? object.decode(Int.self, forKey: JSONKey(key)), key, minimum: minimum, found: found(key))
    }

    func bool(_ key: String, default fallback: Bool) throws -> Bool {
      guard object.contains(JSONKey(key)) else { return fallback }
      guard let flag = try? object.decode(Bool.self, forKey: JSONKey(key)) else {
        throw JSONFieldError("\(location).\(key)", "not a boolean", expected: "true or false", found: found(key))
      }
      return flag
    }

    /// An int (both axes) or a two-element array of ints.
    func pair(_ key: String, minimum: Int, default fallback: (Int, Int)? = nil) throws -> (Int, Int) {
      guard object.contains(JSONKey(key)) else {
        if let fallback { return fallback }
        throw JSONFieldError("\(location).\(key)", "missing field", expected: "an integer or [height, width]", found: "nothing")
      }
      guard let items = try? object.decode([JSONValue].self, forKey: JSONKey(key)) else {
        let single = try integer(key, minimum: minimum)
        return (single, single)
      }
      guard items.count == 2 else {
        throw JSONFieldError("\(location).\(key)", "wrong length", expected: "[height, width]", found: found(key))
      }
      var axes = try object.nestedUnkeyedContainer(forKey: JSONKey(key))
      let height = try checked(try? axes.decode(Int.self), key, minimum: minimum, found: items[0].summary)
      let width = try checked(try? axes.decode(Int.self), key, minimum: minimum, found: items[1].summary)
      return (height, width)
    }
  }
}

/// `model.json`'s `loss` object.
struct LossDescription: Decodable {
  var kind: LossKind
  var reduction: LossReduction

  init(from decoder: any Decoder) throws {
    guard let object = try? decoder.container(keyedBy: JSONKey.self) else {
      throw JSONFieldError(
        "field 'loss'", "wrong type", expected: "an object with 'type' and 'reduction'",
        found: JSONValue.found(in: decoder).summary)
    }
    for key in object.allKeys where key.stringValue != "type" && key.stringValue != "reduction" {
      throw JSONFieldError("loss.\(key.stringValue)", "unknown field", expected: "'type' or 'reduction'", found: "'\(key.stringValue)'")
    }
    func found(_ key: String) -> String {
      object.contains(JSONKey(key)) ? ((try? object.decode(JSONValue.self, forKey: JSONKey(key))) ?? .null).summary : "nothing"
    }
    let kinds = LossKind.allCases.map(\.rawValue).joined(separator: ", ")
    guard let type = try? object.decode(String.self, forKey: JSONKey("type")), let kind = LossKind(rawValue: type) else {
      throw JSONFieldError(
        "loss.type", object.contains(JSONKey("type")) ? "unknown loss type" : "missing field", expected: "one of \(kinds)",
        found: found("type"))
    }
    self.kind = kind
    reduction = .mean
    if object.contains(JSONKey("reduction")) {
      guard let name = try? object.decode(String.self, forKey: JSONKey("reduction")), let parsed = LossReduction(rawValue: name)
      else {
        throw JSONFieldError("loss.reduction", "unknown reduction", expected: "mean or sum", found: found("reduction"))
      }
      reduction = parsed
    }
  }
}
