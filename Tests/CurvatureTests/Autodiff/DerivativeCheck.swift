import Curvature
import CurvatureTestSupport
import Testing

/// A reusable check of every derivative the autodiff core offers for a Double tensor
/// function `f` of several inputs, against central finite differences and against each
/// other:
///
/// 1. VJP: `vjp(f)` with a random cotangent `u` equals `Jᵀu`, with `J` the finite-difference
///    Jacobian (and the value equals `f` evaluated on constants).
/// 2. JVP: `jvp(f)` along random tangents `v` equals the finite-difference directional
///    derivative, and `⟨u, J v⟩ = ⟨Jᵀu, v⟩` between the two modes.
/// 3. Second order: for the scalar `s(x) = Σ w ⊙ outer(f(x))` (default `outer = tanh`, so
///    the Hessian involves both `f`'s second derivative and its Jacobian),
///    `hessianVectorProduct(s)` along `v` equals the finite-difference Hessian (of the
///    reverse-mode gradient) times `v`.
/// 4. Reverse-over-reverse: `∇ₓ ⟨∇s(x), v⟩` equals that Hessian-vector product.
/// 5. Reverse-over-forward: `∇ₓ ⟨u, J(x) v⟩` (a gradient through `jvp`) equals
///    `∇ₓ ⟨∇ₓ⟨u, f(x)⟩, v⟩`, i.e. the same second derivative reached another way.
///
/// Failures are reported at the caller's source location, labelled with `label`.
enum DerivativeCheck {
  /// Tolerances of the finite-difference comparisons and of the mode-consistency ones.
  struct Tolerances {
    var rtol = 1e-7
    var atol = 1e-9
    var secondOrderRtol = 1e-6
    var secondOrderAtol = 1e-8
    /// For identities between exact modes (no finite differences involved).
    var consistencyRtol = 1e-10
    var consistencyAtol = 1e-11
    /// The finite-difference step.
    var step = 1e-6
  }

  /// Runs checks 1–5 on `f` at `points`.
  ///
  /// - Parameters:
  ///   - label: Names the case in failure messages.
  ///   - points: The inputs (keep them away from kinks and domain edges by more than the step).
  ///   - seed: Seeds the random cotangent, tangents and weights.
  ///   - tolerances: The comparison tolerances.
  ///   - secondOrder: Run checks 3–5 (the second derivative).
  ///   - outer: The smooth elementwise function of the second-order scalar.
  ///   - f: The function under test; it must not capture tensors that require gradients.
  static func check(
    _ label: String,
    at points: [NDArray<Double>],
    seed: UInt64 = 0x5eed,
    tolerances tol: Tolerances = Tolerances(),
    secondOrder: Bool = true,
    outer: (Tensor<Double>) -> Tensor<Double> = { $0.tanh() },
    sourceLocation: SourceLocation = #_sourceLocation,
    _ f: ([Tensor<Double>]) -> Tensor<Double>
  ) {
    let shapes = points.map(\.shape)
    let x = points.map { Tensor($0) }
    let flat = flatten(points)
    func evaluate(_ p: [Double]) -> [Double] { f(unflatten(p, shapes)).value.scalars }

    let y0 = f(x)
    guard y0.value.isFinite else {
      Issue.record("\(label): f is not finite at the test point: \(y0.value)", sourceLocation: sourceLocation)
      return
    }
    #expect(!y0.requiresGradient, "\(label): f of constants requires gradients", sourceLocation: sourceLocation)
    var rng = RandomGenerator(seed: seed)
    let u = Tensor<Double>(rng.normalArray(shape: y0.shape))
    let v = shapes.map { Tensor<Double>(rng.normalArray(shape: $0)) }
    let w = Tensor<Double>(rng.normalArray(shape: y0.shape))
    let vFlat = flatten(v.map(\.value))

    // 1. VJP against the finite-difference Jacobian.
    let jacobian = FiniteDifferences.jacobian(of: evaluate, at: flat, step: tol.step)
    let (vjpValue, cotangents) = vjp(at: x, cotangent: u, of: f)
    assertClose(vjpValue.value, y0.value, rtol: 1e-15, "\(label): vjp value", sourceLocation: sourceLocation)
    #expect(!vjpValue.requiresGradient, "\(label): vjp value keeps its graph", sourceLocation: sourceLocation)
    #expect(cotangents.map(\.shape) == shapes, "\(label): vjp cotangent shapes", sourceLocation: sourceLocation)
    let expectedVJP = y0.count == 0 ? NDArray(zeros: [flat.count]) : matvec(jacobian, u.value.flattened(), transpose: true)
    assertClose(
      NDArray(flatten(cotangents.map(\.value))), expectedVJP, rtol: tol.rtol, atol: tol.atol,
      "\(label): vjp vs finite-difference Jᵀu", sourceLocation: sourceLocation)

    // 2. JVP against the finite-difference directional derivative and against the VJP.
    let (jvpValue, tangent) = jvp(at: x, tangents: v, of: f)
    assertClose(jvpValue.value, y0.value, rtol: 1e-15, "\(label): jvp value", sourceLocation: sourceLocation)
    #expect(jvpValue.tangent == nil, "\(label): jvp value keeps its tangent", sourceLocation: sourceLocation)
    let directional = FiniteDifferences.directionalDerivative(of: evaluate, at: flat, along: vFlat, step: tol.step)
    assertClose(
      tangent.value, NDArray(shape: y0.shape, scalars: directional), rtol: tol.rtol, atol: tol.atol,
      "\(label): jvp vs finite-difference directional derivative", sourceLocation: sourceLocation)
    let uJv = u.value.dot(tangent.value)
    let jtuV = zip(cotangents, v).map { $0.value.dot($1.value) }.reduce(0, +)
    let scale = u.value.norm() * tangent.value.norm() + 1
    assertClose(
      uJv, jtuV, rtol: tol.consistencyRtol, atol: tol.consistencyAtol * scale,
      "\(label): ⟨u, Jv⟩ vs ⟨Jᵀu, v⟩", sourceLocation: sourceLocation)

    guard secondOrder else { return }

    // 3. Forward-over-reverse HVP against finite differences of the reverse-mode gradient.
    func s(_ xs: [Tensor<Double>]) -> Tensor<Double> { (w * outer(f(xs))).sum() }
    func gradientOfS(_ p: [Double]) -> [Double] { flatten(gradient(at: unflatten(p, shapes), of: s).map(\.value)) }
    let g = gradient(at: x, of: s)
    let fdGradient = FiniteDifferences.gradient(of: { s(unflatten($0, shapes)).scalar }, at: flat, step: tol.step)
    assertClose(
      NDArray(flatten(g.map(\.value))), NDArray(fdGradient), rtol: tol.rtol, atol: tol.atol,
      "\(label): gradient of s vs finite differences", sourceLocation: sourceLocation)
    let hv = hessianVectorProduct(at: x, along: v, of: s)
    #expect(hv.map(\.shape) == shapes, "\(label): HVP shapes", sourceLocation: sourceLocation)
    let hvFlat = NDArray(flatten(hv.map(\.value)))
    let hessian = FiniteDifferences.hessian(ofGradient: gradientOfS, at: flat, step: tol.step)
    assertClose(
      hvFlat, matvec(hessian, NDArray(vFlat)), rtol: tol.secondOrderRtol, atol: tol.secondOrderAtol,
      "\(label): HVP vs finite-difference Hessian", sourceLocation: sourceLocation)

    // 4. Reverse-over-reverse: ∇ₓ⟨∇s(x), v⟩ = H v.
    let overReverse = gradient(at: x) { xs in innerProduct(gradient(at: xs, of: s), v) }
    assertClose(
      NDArray(flatten(overReverse.map(\.value))), hvFlat, rtol: tol.consistencyRtol,
      atol: tol.consistencyAtol * (hvFlat.norm() + 1),
      "\(label): reverse-over-reverse vs HVP", sourceLocation: sourceLocation)

    // 5. Reverse-over-forward: ∇ₓ⟨u, J(x) v⟩ = ∇ₓ⟨Jᵀ(x) u, v⟩ (reverse-over-reverse).
    let overForward = gradient(at: x) { xs in (u * jvp(at: xs, tangents: v, of: f).tangent).sum() }
    let overVJP = gradient(at: x) { xs in innerProduct(vjp(at: xs, cotangent: u, of: f).cotangents, v) }
    let overVJPFlat = NDArray(flatten(overVJP.map(\.value)))
    assertClose(
      NDArray(flatten(overForward.map(\.value))), overVJPFlat, rtol: tol.consistencyRtol,
      atol: tol.consistencyAtol * (overVJPFlat.norm() + 1),
      "\(label): reverse-over-forward vs reverse-over-reverse", sourceLocation: sourceLocation)
    // And ∇ₓ⟨Jᵀu, v⟩ against finite differences of ⟨Jᵀ(x) u, v⟩.
    let fdOverVJP = FiniteDifferences.gradient(
      of: { p in innerProduct(vjp(at: unflatten(p, shapes), cotangent: u, of: f).cotangents, v).scalar },
      at: flat, step: tol.step)
    assertClose(
      overVJPFlat, NDArray(fdOverVJP), rtol: tol.secondOrderRtol, atol: tol.secondOrderAtol,
      "\(label): ∇⟨Jᵀu, v⟩ vs finite differences", sourceLocation: sourceLocation)
  }

  /// `Σᵢ ⟨aᵢ, bᵢ⟩` as a differentiable rank-0 tensor.
  static func innerProduct(_ a: [Tensor<Double>], _ b: [Tensor<Double>]) -> Tensor<Double> {
    zip(a, b).map { ($0 * $1).sum() }.reduce(Tensor(scalar: 0)) { $0 + $1 }
  }

  /// The scalars of several arrays, concatenated.
  static func flatten(_ arrays: [NDArray<Double>]) -> [Double] { arrays.flatMap(\.scalars) }

  /// Constant tensors of `shapes` from concatenated scalars.
  static func unflatten(_ p: [Double], _ shapes: [[Int]]) -> [Tensor<Double>] {
    var offset = 0
    return shapes.map { shape in
      let n = shape.reduce(1, *)
      defer { offset += n }
      return Tensor(NDArray(shape: shape, scalars: Array(p[offset..<(offset + n)])))
    }
  }

  // MARK: Test points

  /// Standard normal entries.
  static func normal(_ shape: [Int], seed: UInt64) -> NDArray<Double> {
    var rng = RandomGenerator(seed: seed, stream: 1)
    return rng.normalArray(shape: shape)
  }

  /// Uniform entries in `range`.
  static func uniform(_ shape: [Int], in range: Range<Double>, seed: UInt64) -> NDArray<Double> {
    var rng = RandomGenerator(seed: seed, stream: 2)
    return rng.uniformArray(shape: shape, in: range)
  }

  /// Entries of random sign and magnitude in [0.5, 1.5): safely away from zero.
  static func awayFromZero(_ shape: [Int], seed: UInt64) -> NDArray<Double> {
    var rng = RandomGenerator(seed: seed, stream: 3)
    let count = shape.reduce(1, *)
    return NDArray(shape: shape, scalars: (0..<count).map { _ in
      let magnitude = 0.5 + rng.uniform()
      return rng.bernoulli(0.5) ? magnitude : -magnitude
    })
  }
}

/// The checker must notice wrong derivatives: stop-gradients make functions whose recorded
/// derivatives are wrong at first or only at second order.
@Suite struct DerivativeCheckSelfTests {
  @Test func detectsWrongFirstDerivative() {
    let a = DerivativeCheck.normal([3], seed: 1)
    // d/dx (x · stop(x)) is x, not 2x.
    withKnownIssue("the checker must flag a wrong VJP and JVP") {
      DerivativeCheck.check("x·stop(x)", at: [a], secondOrder: false) { x in x[0] * x[0].detached() }
    }
  }

  @Test func detectsWrongSecondDerivative() {
    let a = DerivativeCheck.normal([3], seed: 2)
    // x³ as 3·x·stop(x)² − stop(2x³): the first derivative 3·stop(x)² is right, but it is
    // recorded as a constant, so the recorded second derivative misses 6x.
    withKnownIssue("the checker must flag a wrong second derivative") {
      DerivativeCheck.check("cube with constant derivative", at: [a], outer: { $0 }) { x in
        let c = x[0].detached()
        return 3 * x[0] * c * c - 2 * c * c * c
      }
    }
  }

  @Test func passesCorrectDerivatives() {
    let a = DerivativeCheck.normal([3], seed: 2)
    DerivativeCheck.check("cube", at: [a], outer: { $0 }) { x in x[0] * x[0] * x[0] }
  }
}
