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

/// `model.json`'s `loss` object (format 1 and format 2):
/// `{"type": "cross_entropy" | "mse" | "bce_with_logits", "reduction": "mean" | "sum",
/// "ignore_index": -100, "label_smoothing": 0.0}`, the last two for cross-entropy only.
struct LossDescription: Decodable {
  var kind: LossKind
  var reduction: LossReduction = .mean
  /// Cross-entropy's `ignore_index` (PyTorch's default -100).
  var ignoreIndex = -100
  /// Cross-entropy's `label_smoothing` in [0, 1].
  var labelSmoothing = 0.0

  init(from decoder: any Decoder) throws {
    guard let value = try? JSONValue(from: decoder) else {
      throw JSONFieldError(
        "field 'loss'", "wrong type", expected: "an object with 'type' and 'reduction'",
        found: JSONValue.found(in: decoder).summary)
    }
    try self.init(json: value)
  }

  /// Parses the decoded `loss` object; format 2's loader calls this too.
  /// - Parameters:
  ///   - json: The value of the `loss` field.
  ///   - location: The field's name in errors (`loss`).
  /// - Throws: `JSONFieldError` naming the field: not an object, an unknown field, an
  ///   unknown type or reduction, a non-integer `ignore_index`, a `label_smoothing` outside
  ///   [0, 1], or either of them for a loss other than cross-entropy.
  init(json: JSONValue, location: String = "loss") throws(JSONFieldError) {
    guard case let .object(object) = json else {
      throw JSONFieldError(
        "field '\(location)'", "wrong type", expected: "an object with 'type' and 'reduction'", found: json.summary)
    }
    let known = ["type", "reduction", "ignore_index", "label_smoothing"]
    for key in object.keys.sorted() where !known.contains(key) {
      throw JSONFieldError(
        "\(location).\(key)", "unknown field", expected: "'type', 'reduction', 'ignore_index' or 'label_smoothing'",
        found: "'\(key)'")
    }
    func found(_ key: String) -> String { object[key]?.summary ?? "nothing" }
    let kinds = LossKind.allCases.map(\.rawValue).joined(separator: ", ")
    guard case let .string(type)? = object["type"], let kind = LossKind(rawValue: type) else {
      throw JSONFieldError(
        "\(location).type", object["type"] == nil ? "missing field" : "unknown loss type", expected: "one of \(kinds)",
        found: found("type"))
    }
    self.kind = kind
    if let value = object["reduction"] {
      guard case let .string(name) = value, let parsed = LossReduction(rawValue: name) else {
        throw JSONFieldError("\(location).reduction", "unknown reduction", expected: "mean or sum", found: found("reduction"))
      }
      reduction = parsed
    }
    for key in ["ignore_index", "label_smoothing"] where object[key] != nil && kind != .crossEntropy {
      throw JSONFieldError(
        "\(location).\(key)", "field only for cross_entropy", expected: "no '\(key)' for \(kind.rawValue)", found: found(key))
    }
    if let value = object["ignore_index"] {
      // Integral and within ±2^53, where a JSON number converts to Int exactly.
      guard case let .number(number) = value, number.rounded() == number, abs(number) <= 9_007_199_254_740_992 else {
        throw JSONFieldError("\(location).ignore_index", "not an integer", expected: "an integer class index (default -100)", found: found("ignore_index"))
      }
      ignoreIndex = Int(number)
    }
    if let value = object["label_smoothing"] {
      guard case let .number(number) = value, number >= 0 && number <= 1 else {
        throw JSONFieldError(
          "\(location).label_smoothing", "out of range", expected: "a number in [0, 1] (default 0)", found: found("label_smoothing"))
      }
      labelSmoothing = number
    }
  }

  /// The loss this object describes.
  func makeLoss<T: BLASScalar>(as _: T.Type) -> Loss<T> {
    guard kind == .crossEntropy else { return Loss(kind, reduction: reduction) }
    // The options were checked above, so this cannot throw.
    return (try? Loss<T>.crossEntropy(reduction: reduction, ignoreIndex: ignoreIndex, labelSmoothing: labelSmoothing))
      ?? Loss(kind, reduction: reduction)
  }

  /// The `loss` object of a loss: `ignore_index` and `label_smoothing` only when they differ
  /// from PyTorch's defaults, so format-1 files round-trip unchanged.
  static func jsonObject<T: BLASScalar>(_ loss: Loss<T>) -> JSONValue {
    var object: [String: JSONValue] = ["type": .string(loss.kind.rawValue), "reduction": .string(loss.reduction.rawValue)]
    if loss.ignoreIndex != -100 { object["ignore_index"] = .number(Double(loss.ignoreIndex)) }
    if loss.labelSmoothing != 0 { object["label_smoothing"] = .number(loss.labelSmoothing) }
    return .object(object)
  }
}
