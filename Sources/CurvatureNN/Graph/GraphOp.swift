/// One node's operation with its attributes parsed and checked (PyTorch's defaults for
/// those left out). The table of ops is `docs/ModelFormat.md`'s.
enum GraphOp: Sendable, Hashable {
  enum Binary: String, Sendable { case add, sub, mul, div }
  enum ScalarKind: String, Sendable {
    case add = "add_scalar", sub = "sub_scalar", rsub = "rsub_scalar", mul = "mul_scalar", div = "div_scalar"
    case rdiv = "rdiv_scalar", pow = "pow_scalar"
  }
  enum Unary: String, Sendable { case neg, exp, log, sqrt, rsqrt, relu, tanh, sigmoid, identity }
  /// A convolution's padding: per spatial axis, or PyTorch's two strings.
  enum Padding: Sendable, Hashable { case explicit([Int]), same, valid }

  case linear
  case conv(spatial: Int, stride: [Int], padding: Padding, dilation: [Int], groups: Int)
  case embedding(paddingIndex: Int?)
  case layerNorm(normalizedShape: [Int], eps: Double)
  case rmsNorm(normalizedShape: [Int], eps: Double?)
  case batchNorm(eps: Double)
  case maxPool(spatial: Int, kernel: [Int], stride: [Int], padding: [Int], dilation: [Int], ceilMode: Bool)
  case avgPool(
    spatial: Int, kernel: [Int], stride: [Int], padding: [Int], ceilMode: Bool, countIncludePad: Bool,
    divisorOverride: Int?)
  case adaptiveAvgPool(spatial: Int, outputSize: [Int?])
  case binary(Binary)
  case scalar(ScalarKind, Double)
  case unary(Unary)
  case silu
  case gelu(tanh: Bool)
  case softplus(beta: Double, threshold: Double)
  case elu(alpha: Double)
  case leakyReLU(negativeSlope: Double)
  case matmul
  case concat(dim: Int)
  case slice(dim: Int, start: Int?, end: Int?, step: Int)
  case select(dim: Int, index: Int)
  case reshape([Int])
  case permute([Int])
  case expand([Int])
  case reduction(sum: Bool, dims: [Int]?, keepdim: Bool)
  case softmax(dim: Int, log: Bool)
  case maskedFill(value: Double)
  /// `additiveMask` nil: decided by the mask's dtype (bool: boolean, else additive).
  case attention(isCausal: Bool, scale: Double?, additiveMask: Bool?)

  /// The attributes each op accepts.
  static let attributeNames: [String: Set<String>] = {
    var table: [String: Set<String>] = [
      "linear": [], "conv1d": ["stride", "padding", "dilation", "groups"], "conv2d": ["stride", "padding", "dilation", "groups"],
      "embedding": ["padding_idx"], "layer_norm": ["normalized_shape", "eps"], "rms_norm": ["normalized_shape", "eps"],
      "batch_norm": ["eps"],
      "adaptive_avg_pool1d": ["output_size"], "adaptive_avg_pool2d": ["output_size"],
      "matmul": [], "concat": ["dim"], "slice": ["dim", "start", "end", "step"], "select": ["dim", "index"],
      "reshape": ["shape"], "permute": ["dims"], "expand": ["shape"], "mean": ["dim", "keepdim"], "sum": ["dim", "keepdim"],
      "softmax": ["dim"], "log_softmax": ["dim"], "masked_fill": ["value"],
      "scaled_dot_product_attention": ["is_causal", "scale", "mask_kind"],
      "silu": [], "gelu": ["approximate"], "softplus": ["beta", "threshold"], "elu": ["alpha"], "leaky_relu": ["negative_slope"],
    ]
    for pool in ["max_pool1d", "max_pool2d"] { table[pool] = ["kernel_size", "stride", "padding", "dilation", "ceil_mode"] }
    for pool in ["avg_pool1d", "avg_pool2d"] {
      table[pool] = ["kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"]
    }
    for op in ["add", "sub", "mul", "div"] { table[op] = [] }
    for op in ["add_scalar", "sub_scalar", "rsub_scalar", "mul_scalar", "div_scalar", "rdiv_scalar", "pow_scalar"] {
      table[op] = ["value"]
    }
    for op in ["neg", "exp", "log", "sqrt", "rsqrt", "relu", "tanh", "sigmoid", "identity"] { table[op] = [] }
    return table
  }()

  /// How many inputs each op takes (optional ones included in the upper bound).
  static func arity(_ name: String) -> ClosedRange<Int> {
    switch name {
    case "linear", "conv1d", "conv2d", "layer_norm": return 1...3
    case "embedding", "add", "sub", "mul", "div", "matmul", "masked_fill": return 2...2
    case "rms_norm": return 1...2
    case "batch_norm": return 3...5
    case "concat": return 1...Int.max
    case "scaled_dot_product_attention": return 3...4
    default: return 1...1
    }
  }

  /// Parses op `name` with its attributes.
  /// - Throws: `FileFormatError` for an unknown op, an unknown attribute or an attribute
  ///   value PyTorch would refuse.
  static func parse(_ name: String, _ a: GraphAttributes) throws -> GraphOp {
    guard let allowed = attributeNames[name] else {
      throw a.nodeError(
        "unknown op", expected: "one of \(attributeNames.keys.sorted().joined(separator: ", "))", found: "'\(name)'")
    }
    if let key = a.values.keys.sorted().first(where: { !allowed.contains($0) }) {
      throw a.error(
        key, "unknown attribute for \(name)",
        expected: allowed.isEmpty ? "no attributes" : "one of \(allowed.sorted().joined(separator: ", "))", found: "'\(key)'")
    }
    if let binary = Binary(rawValue: name) { return .binary(binary) }
    if let kind = ScalarKind(rawValue: name) { return .scalar(kind, try a.double("value")) }
    if let unary = Unary(rawValue: name) { return .unary(unary) }
    switch name {
    case "linear": return .linear
    case "conv1d", "conv2d":
      let spatial = name == "conv1d" ? 1 : 2
      let padding: Padding
      if case .string(let text)? = a.values["padding"] {
        guard text == "same" || text == "valid" else {
          throw a.error("padding", "unknown padding", expected: "integers, \"same\" or \"valid\"", found: "\"\(text)\"")
        }
        padding = text == "same" ? .same : .valid
      } else {
        padding = .explicit(try a.ints("padding", count: spatial, minimum: 0, default: 0))
      }
      let stride = try a.ints("stride", count: spatial, minimum: 1, default: 1)
      if padding == .same, stride.contains(where: { $0 != 1 }) {
        throw a.error("padding", "padding 'same' with a stride", expected: "stride 1 (as PyTorch)", found: "stride \(stride)")
      }
      return .conv(
        spatial: spatial, stride: stride, padding: padding, dilation: try a.ints("dilation", count: spatial, minimum: 1, default: 1),
        groups: try a.int("groups", minimum: 1, default: 1))
    case "embedding": return .embedding(paddingIndex: try a.optionalInt("padding_idx"))
    case "layer_norm":
      return .layerNorm(normalizedShape: try a.intList("normalized_shape", minimum: 1), eps: try a.double("eps", minimum: 0, default: 1e-5))
    case "rms_norm":
      return .rmsNorm(
        normalizedShape: try a.intList("normalized_shape", minimum: 1),
        eps: a.isNull("eps") ? nil : try a.double("eps", minimum: 0, default: nil))
    case "batch_norm": return .batchNorm(eps: try a.double("eps", minimum: 0, default: 1e-5))
    case "max_pool1d", "max_pool2d":
      let spatial = name == "max_pool1d" ? 1 : 2
      let kernel = try a.ints("kernel_size", count: spatial, minimum: 1)
      return .maxPool(
        spatial: spatial, kernel: kernel, stride: try a.poolStride(count: spatial, kernel: kernel),
        padding: try a.ints("padding", count: spatial, minimum: 0, default: 0),
        dilation: try a.ints("dilation", count: spatial, minimum: 1, default: 1), ceilMode: try a.bool("ceil_mode", default: false))
    case "avg_pool1d", "avg_pool2d":
      let spatial = name == "avg_pool1d" ? 1 : 2
      let kernel = try a.ints("kernel_size", count: spatial, minimum: 1)
      let divisor = try a.optionalInt("divisor_override")
      if let divisor, divisor < 1 {
        throw a.error("divisor_override", "not a valid divisor", expected: "a positive integer or null", found: "\(divisor)")
      }
      return .avgPool(
        spatial: spatial, kernel: kernel, stride: try a.poolStride(count: spatial, kernel: kernel),
        padding: try a.ints("padding", count: spatial, minimum: 0, default: 0), ceilMode: try a.bool("ceil_mode", default: false),
        countIncludePad: try a.bool("count_include_pad", default: true), divisorOverride: divisor)
    case "adaptive_avg_pool1d", "adaptive_avg_pool2d":
      let spatial = name == "adaptive_avg_pool1d" ? 1 : 2
      return .adaptiveAvgPool(spatial: spatial, outputSize: try a.outputSize(count: spatial))
    case "silu": return .silu
    case "gelu":
      let approximate = try a.string("approximate", allowed: ["none", "tanh"], default: "none")
      return .gelu(tanh: approximate == "tanh")
    case "softplus":
      return .softplus(beta: try a.double("beta", default: 1), threshold: try a.double("threshold", default: 20))
    case "elu": return .elu(alpha: try a.double("alpha", default: 1))
    case "leaky_relu": return .leakyReLU(negativeSlope: try a.double("negative_slope", default: 0.01))
    case "matmul": return .matmul
    case "concat": return .concat(dim: try a.int("dim", default: 0))
    case "slice":
      return .slice(
        dim: try a.int("dim", default: 0), start: try a.clampedOptionalInt("start"), end: try a.clampedOptionalInt("end"),
        step: try a.int("step", minimum: 1, default: 1))
    case "select": return .select(dim: try a.int("dim"), index: try a.int("index"))
    case "reshape": return .reshape(try a.intList("shape", minimum: -1))
    case "permute": return .permute(try a.intList("dims"))
    case "expand": return .expand(try a.intList("shape", minimum: -1))
    case "mean", "sum":
      let dims: [Int]? = a.isNull("dim") ? nil : try a.intList("dim")
      return .reduction(sum: name == "sum", dims: dims?.isEmpty == true ? nil : dims, keepdim: try a.bool("keepdim", default: false))
    case "softmax", "log_softmax": return .softmax(dim: try a.int("dim"), log: name == "log_softmax")
    case "masked_fill": return .maskedFill(value: try a.double("value"))
    default:  // scaled_dot_product_attention
      let kind: String? = a.isNull("mask_kind") ? nil : try a.string("mask_kind", allowed: ["bool", "additive"], default: nil)
      return .attention(
        isCausal: try a.bool("is_causal", default: false), scale: a.isNull("scale") ? nil : try a.double("scale", default: nil),
        additiveMask: kind.map { $0 == "additive" })
    }
  }
}

/// One node's attributes, read with PyTorch's defaults and errors that name the file, the
/// node and the attribute.
struct GraphAttributes {
  let values: [String: JSONValue]
  /// `node 'name' (nodes[i])`.
  let location: String
  let path: String

  func nodeError(_ problem: String, expected: String, found: String) -> FileFormatError {
    FileFormatError(path: path, location: location, problem: problem, expected: expected, found: found)
  }

  func error(_ key: String, _ problem: String, expected: String, found: String) -> FileFormatError {
    FileFormatError(path: path, location: "\(location), attribute '\(key)'", problem: problem, expected: expected, found: found)
  }

  /// Whether `key` is absent or null.
  func isNull(_ key: String) -> Bool {
    guard let value = values[key] else { return true }
    return value == .null
  }

  private func found(_ key: String) -> String { values[key]?.summary ?? "nothing" }

  /// A required attribute, or nil when absent and `fallback` is nil.
  private func value(_ key: String, hasDefault: Bool, expected: String) throws -> JSONValue? {
    guard let value = values[key] else {
      if hasDefault { return nil }
      throw error(key, "missing attribute", expected: expected, found: "nothing")
    }
    return value
  }

  func int(_ key: String, minimum: Int = Int.min, default fallback: Int? = nil) throws -> Int {
    let expected = minimum == Int.min ? "an integer" : "an integer ≥ \(minimum)"
    guard let value = try value(key, hasDefault: fallback != nil, expected: expected) else { return fallback! }
    guard let number = JSONObjectReader.integer(value), number >= minimum else {
      throw error(key, "not a valid integer", expected: expected, found: value.summary)
    }
    return number
  }

  /// An integer, or nil when absent or null.
  func optionalInt(_ key: String) throws -> Int? {
    isNull(key) ? nil : try int(key)
  }

  /// An integer that may be written as a huge number (fx writes `sys.maxsize` for an open
  /// slice end), clamped to ±2⁶⁰; nil when absent or null.
  func clampedOptionalInt(_ key: String) throws -> Int? {
    guard let value = values[key], value != .null else { return nil }
    guard case .number(let x) = value, x == x.rounded() else {
      throw error(key, "not a valid integer", expected: "an integer or null", found: value.summary)
    }
    let limit = Double(1 << 60)
    return x >= limit ? 1 << 60 : x <= -limit ? -(1 << 60) : Int(x)
  }

  /// A list of integers (an integer stands for a one-element list).
  func intList(_ key: String, minimum: Int = Int.min) throws -> [Int] {
    let expected = "an integer or a list of integers" + (minimum == Int.min ? "" : " ≥ \(minimum)")
    guard let value = try value(key, hasDefault: false, expected: expected) else { return [] }
    let items: [JSONValue]
    if case .array(let list) = value { items = list } else { items = [value] }
    let numbers = items.compactMap(JSONObjectReader.integer)
    guard numbers.count == items.count, numbers.allSatisfy({ $0 >= minimum }) else {
      throw error(key, "not a valid list of integers", expected: expected, found: value.summary)
    }
    return numbers
  }

  /// One integer per spatial axis: an integer (every axis) or a list of `count`.
  func ints(_ key: String, count: Int, minimum: Int, default fallback: Int? = nil) throws -> [Int] {
    guard values[key] != nil || fallback == nil else { return Array(repeating: fallback!, count: count) }
    let list = try intList(key, minimum: minimum)
    if list.count == 1 { return Array(repeating: list[0], count: count) }
    guard list.count == count else {
      throw error(key, "wrong number of values", expected: "an integer or \(count) integers", found: found(key))
    }
    return list
  }

  /// A pooling stride: absent, null or `[]` means the kernel size (PyTorch's default).
  func poolStride(count: Int, kernel: [Int]) throws -> [Int] {
    if isNull("stride") { return kernel }
    if case .array(let items)? = values["stride"], items.isEmpty { return kernel }
    return try ints("stride", count: count, minimum: 1)
  }

  /// `output_size`: an integer or one entry per axis, null keeping the input's extent.
  func outputSize(count: Int) throws -> [Int?] {
    let expected = "a positive integer or \(count) positive integers (or null)"
    guard let value = try value("output_size", hasDefault: false, expected: expected) else { return [] }
    let items: [JSONValue]
    if case .array(let list) = value { items = list } else { items = Array(repeating: value, count: count) }
    guard items.count == count else { throw error("output_size", "wrong number of values", expected: expected, found: value.summary) }
    return try items.map { item in
      if item == .null { return nil }
      guard let number = JSONObjectReader.integer(item), number >= 1 else {
        throw error("output_size", "not a valid output size", expected: expected, found: value.summary)
      }
      return number
    }
  }

  /// A number: JSON numbers, or `"inf"`, `"-inf"` and `"nan"` written as strings.
  func double(_ key: String, minimum: Double = -.infinity, default fallback: Double? = nil) throws -> Double {
    let expected = minimum == -.infinity ? "a number" : "a number ≥ \(minimum)"
    guard let value = try value(key, hasDefault: fallback != nil, expected: expected) else { return fallback! }
    let number: Double
    switch value {
    case .number(let x): number = x
    case .string("inf"), .string("Infinity"): number = .infinity
    case .string("-inf"), .string("-Infinity"): number = -.infinity
    case .string("nan"), .string("NaN"): number = .nan
    default: throw error(key, "not a number", expected: expected + " (\"inf\", \"-inf\" or \"nan\" as strings)", found: value.summary)
    }
    guard number.isNaN || number >= minimum else { throw error(key, "out of range", expected: expected, found: value.summary) }
    return number
  }

  func bool(_ key: String, default fallback: Bool) throws -> Bool {
    guard let value = values[key] else { return fallback }
    guard case .bool(let flag) = value else { throw error(key, "not a boolean", expected: "true or false", found: value.summary) }
    return flag
  }

  func string(_ key: String, allowed: [String], default fallback: String?) throws -> String {
    let expected = allowed.map { "\"\($0)\"" }.joined(separator: " or ")
    guard let value = try value(key, hasDefault: fallback != nil, expected: expected) else { return fallback! }
    guard case .string(let text) = value, allowed.contains(text) else {
      throw error(key, "unknown value", expected: expected, found: value.summary)
    }
    return text
  }
}
