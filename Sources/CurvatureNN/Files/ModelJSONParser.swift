import CurvatureNumerics
import CurvatureAutodiff

/// Reads the layer and loss objects of `model.json`, with errors that name the field.
struct ModelJSONParser {
  let path: String

  func error(_ location: String, _ problem: String, expected: String, found: String) -> FileFormatError {
    FileFormatError(path: path, location: location, problem: problem, expected: expected, found: found)
  }

  /// The fields each layer type accepts (besides `type`).
  static let fields: [String: Set<String>] = [
    "linear": ["in_features", "out_features", "bias"],
    "conv2d": ["in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "bias"],
    "relu": [], "tanh": [], "sigmoid": [], "gelu": [], "softplus": [], "flatten": [],
  ]

  func layer<T: BLASScalar>(_ value: JSONValue, at index: Int, as _: T.Type) throws -> any Layer<T> {
    let location = "layers[\(index)]"
    guard case let .object(object) = value else {
      throw error(location, "a layer must be an object", expected: "{\"type\": ...}", found: value.summary)
    }
    guard let typeValue = object["type"] else {
      throw error("\(location).type", "missing field", expected: "one of \(Self.fields.keys.sorted().joined(separator: ", "))", found: "nothing")
    }
    guard case let .string(type) = typeValue, let allowed = Self.fields[type] else {
      throw error("\(location).type", "unknown layer type", expected: "one of \(Self.fields.keys.sorted().joined(separator: ", "))", found: typeValue.summary)
    }
    for key in object.keys where key != "type" && !allowed.contains(key) {
      throw error("\(location).\(key)", "unknown field for a \(type) layer", expected: allowed.isEmpty ? "no other fields" : "one of \(allowed.sorted().joined(separator: ", "))", found: "'\(key)'")
    }
    let fields = Fields(parser: self, object: object, location: location)
    switch type {
    case "linear":
      return Linear<T>(
        inFeatures: try fields.positiveInteger("in_features"), outFeatures: try fields.positiveInteger("out_features"),
        bias: try fields.bool("bias", default: true))
    case "conv2d":
      let inChannels = try fields.positiveInteger("in_channels"), outChannels = try fields.positiveInteger("out_channels")
      let groups = try fields.positiveInteger("groups", default: 1)
      guard inChannels % groups == 0, outChannels % groups == 0 else {
        throw error("\(location).groups", "channels not divisible by groups", expected: "a divisor of in_channels \(inChannels) and out_channels \(outChannels)", found: "\(groups)")
      }
      do {
        return try Conv2d<T>(
          inChannels: inChannels, outChannels: outChannels, kernelSize: try fields.pair("kernel_size", minimum: 1),
          stride: try fields.pair("stride", minimum: 1, default: (1, 1)),
          padding: try fields.pair("padding", minimum: 0, default: (0, 0)),
          dilation: try fields.pair("dilation", minimum: 1, default: (1, 1)), groups: groups,
          bias: try fields.bool("bias", default: true))
      } catch let failure as ModelError {
        throw error(location, "invalid convolution", expected: "a valid Conv2d configuration", found: failure.description)
      }
    case "relu": return ReLU<T>()
    case "tanh": return Tanh<T>()
    case "sigmoid": return Sigmoid<T>()
    case "gelu": return GELU<T>()
    case "softplus": return Softplus<T>()
    default: return Flatten<T>()
    }
  }

  /// The most parameters a model may have: the flat parameter vector goes through BLAS,
  /// whose lengths are 32-bit.
  static let maximumParameterCount = Int(Int32.max)

  /// Rejects layers whose parameter blocks cannot exist — a block's element count overflows,
  /// or the model's total exceeds `maximumParameterCount` — before anything is allocated.
  func checkParameterCount<T: BLASScalar>(_ layers: [any Layer<T>]) throws {
    var total = 0
    for (index, layer) in layers.enumerated() {
      for spec in layer.parameterSpecs {
        var count = 1, overflow = false
        for extent in spec.shape where !overflow {
          (count, overflow) = count.multipliedReportingOverflow(by: extent)
        }
        if !overflow { (total, overflow) = total.addingReportingOverflow(count) }
        if overflow || total > Self.maximumParameterCount {
          throw error(
            "layers[\(index)]", "model too large",
            expected: "at most \(Self.maximumParameterCount) parameters in all",
            found: "\(layer) with a \(spec.name) block of shape \(spec.shape)")
        }
      }
    }
  }

  func loss<T: BLASScalar>(_ value: JSONValue, as _: T.Type) throws -> Loss<T> {
    guard case let .object(object) = value else {
      throw error("field 'loss'", "wrong type", expected: "an object with 'type' and 'reduction'", found: value.summary)
    }
    for key in object.keys where key != "type" && key != "reduction" {
      throw error("loss.\(key)", "unknown field", expected: "'type' or 'reduction'", found: "'\(key)'")
    }
    let kinds = LossKind.allCases.map(\.rawValue).joined(separator: ", ")
    guard case let .string(type)? = object["type"], let kind = LossKind(rawValue: type) else {
      throw error("loss.type", object["type"] == nil ? "missing field" : "unknown loss type", expected: "one of \(kinds)", found: object["type"]?.summary ?? "nothing")
    }
    var reduction = LossReduction.mean
    if let reductionValue = object["reduction"] {
      guard case let .string(name) = reductionValue, let parsed = LossReduction(rawValue: name) else {
        throw error("loss.reduction", "unknown reduction", expected: "mean or sum", found: reductionValue.summary)
      }
      reduction = parsed
    }
    return Loss(kind, reduction: reduction)
  }

  /// Typed access to one layer object's fields.
  struct Fields {
    let parser: ModelJSONParser
    let object: [String: JSONValue]
    let location: String

    func integer(_ value: JSONValue, _ key: String, minimum: Int) throws -> Int {
      guard case let .number(number) = value, number == number.rounded(), abs(number) < 1e9, Int(number) >= minimum else {
        throw parser.error("\(location).\(key)", "not a valid integer", expected: "an integer ≥ \(minimum)", found: value.summary)
      }
      return Int(number)
    }

    func positiveInteger(_ key: String, default fallback: Int? = nil) throws -> Int {
      guard let value = object[key] else {
        if let fallback { return fallback }
        throw parser.error("\(location).\(key)", "missing field", expected: "a positive integer", found: "nothing")
      }
      return try integer(value, key, minimum: 1)
    }

    func bool(_ key: String, default fallback: Bool) throws -> Bool {
      guard let value = object[key] else { return fallback }
      guard case let .bool(flag) = value else {
        throw parser.error("\(location).\(key)", "not a boolean", expected: "true or false", found: value.summary)
      }
      return flag
    }

    /// An int (both axes) or a two-element array of ints.
    func pair(_ key: String, minimum: Int, default fallback: (Int, Int)? = nil) throws -> (Int, Int) {
      guard let value = object[key] else {
        if let fallback { return fallback }
        throw parser.error("\(location).\(key)", "missing field", expected: "an integer or [height, width]", found: "nothing")
      }
      if case let .array(items) = value {
        guard items.count == 2 else {
          throw parser.error("\(location).\(key)", "wrong length", expected: "[height, width]", found: value.summary)
        }
        return (try integer(items[0], key, minimum: minimum), try integer(items[1], key, minimum: minimum))
      }
      let single = try integer(value, key, minimum: minimum)
      return (single, single)
    }
  }
}
