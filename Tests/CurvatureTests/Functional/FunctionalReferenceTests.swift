import Curvature
import CurvatureTestSupport
import Testing

/// Every functional op against PyTorch (forward, VJP and JVP from the fixtures, in Double
/// and in Float) and against finite differences in Double, up to second order.
@Suite struct FunctionalReferenceTests {
  @Test("forward, VJP and JVP match PyTorch in Double", arguments: FunctionalFixture.families)
  func matchesPyTorchInDouble(family: String) throws {
    try compareWithPyTorch(family, Double.self, rtol: 1e-9, atol: 1e-11)
  }

  @Test("forward, VJP and JVP match PyTorch in Float", arguments: FunctionalFixture.families)
  func matchesPyTorchInFloat(family: String) throws {
    try compareWithPyTorch(family, Float.self, rtol: 1e-4, atol: 2e-5)
  }

  /// Cases whose derivatives finite differences cannot check: ties of a maximum (a kink)
  /// and outputs of `-∞`.
  static let notSmooth: Set<String> = ["max_pool2d_ties", "masked_fill_neg_inf"]

  @Test("VJP, JVP and HVP match finite differences in Double", arguments: FunctionalFixture.families)
  func derivativesMatchFiniteDifferences(family: String) throws {
    let fixture = try FunctionalFixture(family: family)
    for c in fixture.cases where !Self.notSmooth.contains(c.name) {
      let inputs = try Self.inputs(c, fixture, as: Double.self)
      let names = c.differentiableInputs
      // Sums over a few hundred entries carry finite-difference noise near 1e-9.
      var tolerances = DerivativeCheck.Tolerances()
      tolerances.atol = 1e-8
      tolerances.secondOrderAtol = 1e-7
      let padding = c.op == "embedding" ? FunctionalRunner.Attributes(values: c.attributes).optionalInt("padding_idx") : nil
      DerivativeCheck.check("\(family)/\(c.name)", at: names.map { inputs[$0]!.value }, tolerances: tolerances) { xs in
        guard let padding else { return Self.evaluate(c, inputs, names, xs) }
        // The padding row is a constant by definition (it gets no gradient, as in PyTorch),
        // so finite differences must not see it move: it is pinned to its value here.
        return Self.evaluate(c, inputs, names, [Self.pinningRow(padding, of: xs[0], to: inputs["weight"]!.value)])
      }
    }
  }

  @Test("Float Hessian-vector products agree with Double", arguments: FunctionalFixture.families)
  func floatSecondOrderAgreesWithDouble(family: String) throws {
    let fixture = try FunctionalFixture(family: family)
    for c in fixture.cases where !Self.notSmooth.contains(c.name) {
      let names = c.differentiableInputs
      func hvp<S: BLASScalar>(_: S.Type) throws -> [NDArray<S>] {
        let inputs = try Self.inputs(c, fixture, as: S.self)
        let directions = try names.map { Tensor(try fixture.array(c, "tangent/\($0)", as: S.self)) }
        let weights = Tensor(try fixture.array(c, "cotangent", as: S.self))
        return hessianVectorProduct(at: names.map { inputs[$0]! }, along: directions) { xs in
          (weights * Self.evaluate(c, inputs, names, xs).tanh()).sum()
        }.map(\.value)
      }
      let (single, double) = (try hvp(Float.self), try hvp(Double.self))
      for (name, (s, d)) in zip(names, zip(single, double)) {
        let scale = Float(LayersTestSupport.maxMagnitude(d))
        assertClose(
          s, NDArray(shape: d.shape, scalars: d.scalars.map { Float($0) }), rtol: 1e-3, atol: 1e-4 * (1 + scale),
          "\(family)/\(c.name): Float HVP for \(name)")
      }
    }
  }

  // MARK: Helpers

  /// `weight` with row `row` (negative counts from the end) replaced by that row of
  /// `original`, as a constant.
  static func pinningRow(_ row: Int, of weight: Tensor<Double>, to original: NDArray<Double>) -> Tensor<Double> {
    let (rows, width) = (weight.shape[0], weight.shape[1])
    let r = row < 0 ? row + rows : row
    let flags = (0..<(rows * width)).map { $0 / width == r ? 1.0 : 0.0 }
    let mask = Tensor(NDArray(shape: weight.shape, scalars: flags))
    let pinned = zip(original.scalars, flags).map { $0 * $1 }
    return Functional.maskedFill(weight, mask: mask, value: 0) + Tensor(NDArray(shape: weight.shape, scalars: pinned))
  }

  /// The case's inputs as tensors of `S`.
  static func inputs<S: BLASScalar>(
    _ c: FunctionalFixture.Case, _ fixture: FunctionalFixture, as _: S.Type
  ) throws -> [String: Tensor<S>] {
    var inputs = [String: Tensor<S>]()
    for name in c.inputs { inputs[name] = Tensor(try fixture.array(c, name, as: S.self)) }
    return inputs
  }

  /// The op with the differentiable inputs `names` replaced by `xs`.
  static func evaluate<S: BLASScalar>(
    _ c: FunctionalFixture.Case, _ inputs: [String: Tensor<S>], _ names: [String], _ xs: [Tensor<S>]
  ) -> Tensor<S> {
    var all = inputs
    for (name, x) in zip(names, xs) { all[name] = x }
    return FunctionalRunner.run(c, all)
  }

  /// Compares output, VJP and JVP of every case of a family with PyTorch's; the absolute
  /// tolerance scales with the largest finite reference entry.
  func compareWithPyTorch<S: BLASScalar>(_ family: String, _: S.Type, rtol: S, atol: S) throws {
    let fixture = try FunctionalFixture(family: family)
    #expect(!fixture.cases.isEmpty, "\(family): no cases")
    func check(_ actual: NDArray<S>, _ expected: NDArray<S>, _ what: String) {
      let scale = expected.scalars.filter(\.isFinite).reduce(S(0)) { Swift.max($0, abs($1)) }
      assertClose(actual, expected, rtol: rtol, atol: atol * (1 + scale), "\(family)/\(what)")
    }
    for c in fixture.cases {
      let inputs = try Self.inputs(c, fixture, as: S.self)
      let names = c.differentiableInputs
      let output = FunctionalRunner.run(c, inputs)
      check(output.value, try fixture.array(c, "output"), "\(c.name) output")
      #expect(!output.requiresGradient, "\(family)/\(c.name): output of constants requires gradients")

      let points = names.map { inputs[$0]! }
      let cotangent = Tensor(try fixture.array(c, "cotangent", as: S.self))
      let (value, cotangents) = vjp(at: points, cotangent: cotangent) { Self.evaluate(c, inputs, names, $0) }
      check(value.value, output.value, "\(c.name) vjp value")
      for (name, g) in zip(names, cotangents) {
        check(g.value, try fixture.array(c, "vjp/\(name)"), "\(c.name) vjp for \(name)")
      }
      let tangents = try names.map { Tensor(try fixture.array(c, "tangent/\($0)", as: S.self)) }
      let (_, tangent) = jvp(at: points, tangents: tangents) { Self.evaluate(c, inputs, names, $0) }
      check(tangent.value, try fixture.array(c, "jvp"), "\(c.name) jvp")
    }
  }
}
