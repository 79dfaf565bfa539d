import Curvature
import Foundation
import Testing

/// The PyTorch reference cases of the functional ops, written by
/// scripts/fixtures/make_functional_fixtures.py: one safetensors file per op family, whose
/// metadata lists the cases (op, attributes, inputs) and whose tensors hold each case's
/// inputs, output, and a VJP and a JVP with fixed random cotangent and tangents.
struct FunctionalFixture {
  /// One case of a family file.
  struct Case: CustomStringConvertible {
    let name: String
    let op: String
    let attributes: [String: Any]
    let inputs: [String]
    let differentiable: [Bool]
    var description: String { name }

    /// The names of the inputs that have derivatives.
    var differentiableInputs: [String] { zip(inputs, differentiable).filter(\.1).map(\.0) }
  }

  static let families = ["linear", "convolution", "embedding", "normalization", "pooling", "attention", "activations"]

  let file: SafetensorsFile
  let cases: [Case]

  init(family: String) throws {
    let url = URL(fileURLWithPath: #filePath)
      .deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("Fixtures/Functional/\(family).safetensors")
    file = try SafetensorsFile(contentsOf: url)
    let json = try #require(file.metadata["cases"], "\(family): no 'cases' metadata")
    let list = try #require(
      try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]], "\(family): cases are not a list")
    cases = try list.map { entry in
      Case(
        name: try #require(entry["name"] as? String), op: try #require(entry["op"] as? String),
        attributes: try #require(entry["attributes"] as? [String: Any]),
        inputs: try #require(entry["inputs"] as? [String]), differentiable: try #require(entry["differentiable"] as? [Bool]))
    }
  }

  /// The tensor `<case>/<name>` as `T`.
  func array<T: BLASScalar>(_ c: Case, _ name: String, as _: T.Type = T.self) throws -> NDArray<T> {
    try file.array(named: "\(c.name)/\(name)", as: T.self)
  }
}

/// Runs a fixture case through `Functional`, reading the attributes as the graph loader
/// would (PyTorch's keyword names, "same" padding resolved to explicit padding).
enum FunctionalRunner {
  static func run<S: BLASScalar>(_ c: FunctionalFixture.Case, _ x: [String: Tensor<S>]) -> Tensor<S> {
    let a = Attributes(values: c.attributes)
    switch c.op {
    case "linear":
      return Functional.linear(x["x"]!, weight: x["weight"]!, bias: x["bias"])
    case "matmul":
      return Functional.matmul(x["a"]!, x["b"]!)
    case "conv1d":
      let (k, d) = (x["weight"]!.shape[2], a.ints("dilation")[0])
      let padding: (before: Int, after: Int) = a.isSame("padding") ? same(kernel: k, dilation: d) : (a.ints("padding")[0], a.ints("padding")[0])
      return Functional.conv1d(
        x["x"]!, weight: x["weight"]!, bias: x["bias"], stride: a.ints("stride")[0], padding: padding, dilation: d,
        groups: a.int("groups"))
    case "conv2d":
      let w = x["weight"]!
      if a.isSame("padding") {
        let d = a.ints("dilation")
        let padding = [same(kernel: w.shape[2], dilation: d[0]), same(kernel: w.shape[3], dilation: d[1])]
        return Functional.conv2d(
          x["x"]!, weight: w, bias: x["bias"], stride: a.ints("stride"), padding: padding, dilation: d,
          groups: a.int("groups"))
      }
      return Functional.conv2d(
        x["x"]!, weight: w, bias: x["bias"], stride: a.ints("stride"), padding: a.ints("padding"),
        dilation: a.ints("dilation"), groups: a.int("groups"))
    case "embedding":
      return Functional.embedding(x["indices"]!.value, weight: x["weight"]!, paddingIndex: a.optionalInt("padding_idx"))
    case "layer_norm":
      return Functional.layerNorm(
        x["x"]!, normalizedShape: a.ints("normalized_shape"), weight: x["weight"], bias: x["bias"], eps: a.double("eps"))
    case "rms_norm":
      return Functional.rmsNorm(
        x["x"]!, normalizedShape: a.ints("normalized_shape"), weight: x["weight"], eps: a.optionalDouble("eps"))
    case "batch_norm":
      return Functional.batchNorm(
        x["x"]!, runningMean: x["running_mean"]!, runningVar: x["running_var"]!, weight: x["weight"], bias: x["bias"],
        eps: a.double("eps"))
    case "max_pool1d":
      return Functional.maxPool1d(
        x["x"]!, kernelSize: a.ints("kernel_size"), stride: a.ints("stride"), padding: a.ints("padding"),
        dilation: a.ints("dilation"), ceilMode: a.bool("ceil_mode"))
    case "max_pool2d":
      return Functional.maxPool2d(
        x["x"]!, kernelSize: a.ints("kernel_size"), stride: a.ints("stride"), padding: a.ints("padding"),
        dilation: a.ints("dilation"), ceilMode: a.bool("ceil_mode"))
    case "avg_pool1d":
      return Functional.avgPool1d(
        x["x"]!, kernelSize: a.ints("kernel_size"), stride: a.ints("stride"), padding: a.ints("padding"),
        ceilMode: a.bool("ceil_mode"), countIncludePad: a.bool("count_include_pad"), divisorOverride: nil)
    case "avg_pool2d":
      return Functional.avgPool2d(
        x["x"]!, kernelSize: a.ints("kernel_size"), stride: a.ints("stride"), padding: a.ints("padding"),
        ceilMode: a.bool("ceil_mode"), countIncludePad: a.bool("count_include_pad"),
        divisorOverride: a.optionalInt("divisor_override"))
    case "adaptive_avg_pool1d":
      return Functional.adaptiveAvgPool1d(x["x"]!, outputSize: a.ints("output_size"))
    case "adaptive_avg_pool2d":
      return Functional.adaptiveAvgPool2d(x["x"]!, outputSize: a.ints("output_size"))
    case "scaled_dot_product_attention":
      return Functional.scaledDotProductAttention(
        query: x["q"]!, key: x["k"]!, value: x["v"]!, mask: x["mask"],
        maskKind: AttentionMaskKind(rawValue: a.string("mask_kind"))!, isCausal: a.bool("is_causal"),
        scale: a.optionalDouble("scale"))
    case "masked_fill":
      return Functional.maskedFill(x["x"]!, mask: x["mask"]!, value: a.double("value"))
    case "relu": return Functional.relu(x["x"]!)
    case "tanh": return Functional.tanh(x["x"]!)
    case "sigmoid": return Functional.sigmoid(x["x"]!)
    case "silu": return Functional.silu(x["x"]!)
    case "gelu": return Functional.gelu(x["x"]!, approximate: GELUApproximation(rawValue: a.string("approximate"))!)
    case "elu": return Functional.elu(x["x"]!, alpha: a.double("alpha"))
    case "leaky_relu": return Functional.leakyReLU(x["x"]!, negativeSlope: a.double("negative_slope"))
    case "softplus": return Functional.softplus(x["x"]!, beta: a.double("beta"), threshold: a.double("threshold"))
    default:
      preconditionFailure("no runner for op \(c.op)")
    }
  }

  /// PyTorch's resolution of `padding="same"`: the total `dilation·(kernel − 1)`, the
  /// smaller half before.
  static func same(kernel: Int, dilation: Int) -> (before: Int, after: Int) {
    let total = dilation * (kernel - 1)
    return (total / 2, total - total / 2)
  }

  /// Typed access to JSON attributes.
  struct Attributes {
    let values: [String: Any]
    func ints(_ key: String) -> [Int] { (values[key] as? [Int]) ?? [] }
    func int(_ key: String) -> Int { values[key] as! Int }
    func optionalInt(_ key: String) -> Int? { values[key] as? Int }
    func bool(_ key: String) -> Bool { values[key] as! Bool }
    func string(_ key: String) -> String { values[key] as! String }
    func isSame(_ key: String) -> Bool { (values[key] as? String) == "same" }
    func double(_ key: String) -> Double { optionalDouble(key)! }
    func optionalDouble(_ key: String) -> Double? {
      if let text = values[key] as? String {
        switch text {
        case "-inf": return -.infinity
        case "inf": return .infinity
        default: return Double(text)
        }
      }
      return values[key] as? Double
    }
  }
}
