import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// The semantics of the function transforms: unconnected inputs, several outputs and
/// seeds, accumulation, recording modes, non-scalar VJP/JVP, Hessian symmetry, Float
/// against Double, preconditions, and that the graph is freed after a transform returns.
@Suite struct TransformTests {
  // MARK: Unconnected inputs

  @Test func ignoredInputGetsZeroGradient() {
    let x = Tensor<Double>(NDArray([1, -2, 3]))
    let y = Tensor<Double>(NDArray(rows: [[1, 2], [3, 4]]))
    let grads = gradient(at: [x, y]) { p in p[0].squared().sum() }
    #expect(grads[0].value == NDArray([2, -4, 6]))
    #expect(grads[1].value == NDArray(zeros: [2, 2]))
    // A function of none of its inputs: a constant output.
    let (value, none) = valueAndGradient(at: [x, y]) { _ in Tensor(scalar: 3) }
    #expect(value.scalar == 3)
    #expect(none.map(\.value) == [NDArray(zeros: [3]), NDArray(zeros: [2, 2])])
    let cotangents = vjp(at: [x, y], cotangent: Tensor(NDArray([1, 1, 1]))) { p in p[0].exp() }.cotangents
    #expect(cotangents[1].value == NDArray(zeros: [2, 2]))
    let constant = vjp(at: [x], cotangent: Tensor(NDArray([1, 1]))) { _ in Tensor(NDArray([5, 6])) }
    #expect(constant.cotangents[0].value == NDArray(zeros: [3]))
    // Forward mode: no input reaches the output, so its tangent is zero.
    let (jvpValue, tangent) = jvp(at: [x], tangents: [Tensor(NDArray([1, 1, 1]))]) { _ in Tensor(NDArray([5, 6])) }
    #expect(jvpValue.value == NDArray([5, 6]))
    #expect(tangent.value == NDArray(zeros: [2]))
    // A linear function has a zero Hessian; an ignored input a zero Hessian block.
    let hv = hessianVectorProduct(at: [x, y], along: [x, y]) { p in (p[0] * 3).sum() + p[1].sum() }
    #expect(hv.map(\.value) == [NDArray(zeros: [3]), NDArray(zeros: [2, 2])])
    let hvIgnored = hessianVectorProduct(at: [x, y], along: [x, y]) { p in p[0].exp().sum() }
    #expect(hvIgnored[1].value == NDArray(zeros: [2, 2]))
  }

  @Test func unconnectedTargetOfGradientsIsZero() {
    let x = Tensor<Double>(NDArray([1, 2])).requiringGradient()
    let z = Tensor<Double>(NDArray([3, 4, 5])).requiringGradient()
    let y = x.squared()
    let grads = gradients(of: [y], seeds: [Tensor(NDArray([1, 1]))], wrt: [x, z])
    #expect(grads[0].value == NDArray([2, 4]))
    #expect(grads[1].value == NDArray(zeros: [3]))
  }

  // MARK: Several outputs, seeds and uses

  @Test func severalOutputsAndSeedsSumContributions() {
    let x0 = NDArray<Double>([0.5, -1, 2])
    let x = Tensor(x0).requiringGradient()
    let z = Tensor<Double>(NDArray([0.3, 0.7, -0.2])).requiringGradient()
    let y1 = x * x * z  // [3]
    let y2 = x.exp().sum()  // []
    let y3 = (x * z).sum(alongAxes: [0], keepingDimensions: true)  // [1]
    let s1 = Tensor<Double>(NDArray([1, 2, 3])), s2 = Tensor<Double>(scalar: -0.5), s3 = Tensor<Double>(NDArray([4]))
    let grads = gradients(of: [y1, y2, y3, y1], seeds: [s1, s2, s3, s1], wrt: [x, z])
    let xs = x0.scalars, zs = z.value.scalars, s1s = s1.value.scalars
    // y1 appears twice with seed s1; y2 has seed -0.5; y3 seed 4.
    let expectedX = (0..<3).map { i -> Double in
      let fromY1: Double = 2 * (2 * xs[i] * zs[i] * s1s[i])
      let fromY2: Double = -0.5 * exp(xs[i])
      return fromY1 + fromY2 + 4 * zs[i]
    }
    let expectedZ = (0..<3).map { i -> Double in 2 * (xs[i] * xs[i] * s1s[i]) + 4 * xs[i] }
    assertClose(grads[0].value, NDArray(expectedX), rtol: 1e-14)
    assertClose(grads[1].value, NDArray(expectedZ), rtol: 1e-14)
    #expect(!grads[0].requiresGradient && !grads[1].requiresGradient)
    // An output that is itself a target receives its seed.
    let own = gradients(of: [x, y2], seeds: [s1, s2], wrt: [x])[0]
    assertClose(own.value, NDArray((0..<3).map { s1s[$0] - 0.5 * exp(xs[$0]) }), rtol: 1e-14)
  }

  @Test func gradientsWithCreateGraphDifferentiateAgain() {
    let x = Tensor<Double>(NDArray([0.5, -1, 2])).requiringGradient()
    let y = (x * x * x).sum()
    let g = gradients(of: [y], seeds: [Tensor(scalar: 1)], wrt: [x], createGraph: true)[0]
    #expect(g.requiresGradient)
    assertClose(g.value, NDArray([0.75, 3, 12]), rtol: 1e-15)
    // ∂/∂x Σ wᵢ 3xᵢ² = 6 w ⊙ x.
    let w = Tensor<Double>(NDArray([1, 2, 3]))
    let h = gradients(of: [(g * w).sum()], seeds: [Tensor(scalar: 1)], wrt: [x])[0]
    assertClose(h.value, NDArray([3, -12, 36]), rtol: 1e-15)
    // Without createGraph the result is a constant.
    let plain = gradients(of: [y], seeds: [Tensor(scalar: 1)], wrt: [x])[0]
    #expect(!plain.requiresGradient)
  }

  @Test func tensorUsedSeveralTimesAccumulates() {
    let x = Tensor<Double>(NDArray([0.5, -1.5, 2]))
    let g = gradient(at: x) { x in (x * x + x).sum() }
    assertClose(g.value, NDArray([2, -2, 5]), rtol: 1e-15)
    let chain = gradient(at: x) { x in
      var z = x
      for _ in 0..<5 { z = z + x }
      return (z * x).sum()  // 6x² → 12x
    }
    assertClose(chain.value, NDArray([6, -18, 24]), rtol: 1e-15)
    // An intermediate used in several places.
    let xs = x.value.scalars
    let shared = gradient(at: x) { x in
      let y = x.exp()
      return (y * y + y.tanh() + y).sum()
    }
    let expected = xs.map { v -> Double in
      let y = exp(v)
      return (2 * y + (1 - tanh(y) * tanh(y)) + 1) * y
    }
    assertClose(shared.value, NDArray(expected), rtol: 1e-13)
    DerivativeCheck.check("shared intermediate", at: [x.value]) { t in
      let y = t[0].exp()
      return y * y + y.tanh() + y
    }
    // The same input passed twice becomes two leaves.
    let twice = gradient(at: [x, x]) { p in (p[0] * p[1].exp()).sum() }
    assertClose(twice[0].value, x.value.map(.exp), rtol: 1e-15)
    assertClose(twice[1].value, NDArray(xs.map { $0 * exp($0) }), rtol: 1e-15)
  }

  /// Targets may be intermediates: each gets the partial derivative through it
  /// (`torch.autograd.grad` semantics), and a target listed twice gets it twice.
  @Test func intermediateAndRepeatedTargets() {
    let x = Tensor<Double>(NDArray([0.5, -1, 2])).requiringGradient()
    let y = x * x
    let z = y.exp().sum() + x.sum()
    let grads = gradients(of: [z], seeds: [Tensor(scalar: 1)], wrt: [y, x, y])
    let ys = y.value.scalars, xs = x.value.scalars
    assertClose(grads[0].value, NDArray(ys.map { exp($0) }), rtol: 1e-15)
    assertClose(grads[1].value, NDArray((0..<3).map { exp(ys[$0]) * 2 * xs[$0] + 1 }), rtol: 1e-15)
    #expect(grads[2].value == grads[0].value)
  }

  /// Transforms nest to third order: ∇ₓ⟨H(x) v, w⟩ for Σ x⁴ is 24 x ⊙ v ⊙ w, by
  /// reverse-over-forward-over-reverse and by reverse-over-reverse-over-reverse.
  @Test func thirdOrder() {
    let x = Tensor<Double>(NDArray([0.5, -1, 2]))
    let v = Tensor<Double>(NDArray([1, 2, 3])), w = Tensor<Double>(NDArray([1, -1, 0.5]))
    func quartic(_ x: Tensor<Double>) -> Tensor<Double> { (x * x * x * x).sum() }
    let expected = NDArray<Double>([12, 48, 72])
    let viaHVP = gradient(at: x) { x in (hessianVectorProduct(at: [x], along: [v]) { quartic($0[0]) }[0] * w).sum() }
    assertClose(viaHVP.value, expected, rtol: 1e-14)
    let viaGradients = gradient(at: x) { x in (gradient(at: x) { x in (gradient(at: x, of: quartic) * v).sum() } * w).sum() }
    assertClose(viaGradients.value, expected, rtol: 1e-14)
  }

  /// A transform whose function captures a tensor on an outer graph must record its
  /// backward pass, so that the outer transform can differentiate through it (a gradient
  /// penalty: ∇_θ of a function of ∇ₓ D(x; θ)).
  @Test func gradientThroughCapturedOuterTensor() {
    let x = Tensor<Double>(NDArray([0.5, -1, 2]))
    let p0 = Tensor<Double>(NDArray([0.3, 0.7, -0.4]))
    // Σᵢ ∂/∂xᵢ (Σ x ⊙ p)² = 2 s Σp with s = Σ x ⊙ p, whose gradient in p is 2 x Σp + 2 s.
    let s = x.value.dot(p0.value), sumP = p0.value.sum()
    let expected = NDArray(x.value.scalars.map { 2 * $0 * sumP + 2 * s })
    let g = gradient(at: p0) { p in gradient(at: x) { x in (x * p).sum().squared() }.sum() }
    assertClose(g.value, expected, rtol: 1e-14)
    // The explicit form with createGraph: true is right.
    let explicit = gradient(at: p0) { p in
      let leaf = x.requiringGradient()
      let inner = gradients(of: [(leaf * p).sum().squared()], seeds: [Tensor(scalar: 1)], wrt: [leaf], createGraph: true)
      return inner[0].sum()
    }
    assertClose(explicit.value, expected, rtol: 1e-14)
  }

  /// The double-VJP trick, `J v = ∇ᵤ⟨Jᵀu, v⟩`, needs `vjp` to record its backward pass
  /// when the cotangent is on a graph.
  @Test func vjpIsDifferentiableInItsCotangent() {
    let x = Tensor<Double>(NDArray([0.5, -1, 2]))
    let u0 = Tensor<Double>(NDArray([1, 2, 3])), v = Tensor<Double>(NDArray([1, -1, 0.5]))
    let expected = NDArray((0..<3).map { exp(x.value.scalars[$0]) * v.value.scalars[$0] })
    let viaVJP = gradient(at: u0) { u in (vjp(at: [x], cotangent: u) { $0[0].exp() }.cotangents[0] * v).sum() }
    assertClose(viaVJP.value, expected, rtol: 1e-14)
    // With gradients(of:seeds:wrt:createGraph: true) the seed's graph is kept.
    let leaf = x.requiringGradient()
    let y = leaf.exp()
    let jv = gradient(at: u0) { u in (gradients(of: [y], seeds: [u], wrt: [leaf], createGraph: true)[0] * v).sum() }
    assertClose(jv.value, expected, rtol: 1e-14)
    // Forward mode through the cotangent works: the tangent of Jᵀu along du is Jᵀdu.
    let du = Tensor<Double>(NDArray([0.5, 1, -1]))
    let t = jvp(at: [u0], tangents: [du]) { u in vjp(at: [x], cotangent: u[0]) { $0[0].exp() }.cotangents[0] }.tangent
    assertClose(t.value, NDArray((0..<3).map { exp(x.value.scalars[$0]) * du.value.scalars[$0] }), rtol: 1e-14)
  }

  /// A one-element output of any rank is a valid scalar, and the identity's gradient is one.
  @Test func oneElementOutputsOfAnyRank() {
    let x = Tensor<Double>(NDArray([0.5, -1]))
    #expect(gradient(at: x) { $0.sum(alongAxes: [0], keepingDimensions: true) }.value == NDArray([1, 1]))
    #expect(gradient(at: x) { $0.sum().reshaped([1, 1, 1]) * 2 }.value == NDArray([2, 2]))
    let s = Tensor<Double>(scalar: 3)
    #expect(gradient(at: s) { $0 }.value == NDArray(scalar: 1))
    #expect(valueAndGradient(at: s) { $0 }.value.scalar == 3)
    #expect(hessianVectorProduct(at: [s], along: [Tensor(scalar: 2)]) { $0[0] * $0[0] * $0[0] }[0].scalar == 36)
  }

  /// Transforms running concurrently in tasks agree with serial runs (the graph clock and
  /// the recording mode are per task or atomic).
  @Test func concurrentTransformsAgreeWithSerialOnes() async {
    func work(_ seed: UInt64) -> [NDArray<Double>] {
      var rng = RandomGenerator(seed: seed)
      let x = Tensor<Double>(rng.normalArray(shape: [3, 4])), w = Tensor<Double>(rng.normalArray(shape: [4, 2]))
      let v = Tensor<Double>(rng.normalArray(shape: [4, 2]))
      func loss(_ p: [Tensor<Double>]) -> Tensor<Double> { matmul(x, p[0]).tanh().squared().sum() }
      let g = gradient(at: [w], of: loss)[0]
      let hv = hessianVectorProduct(at: [w], along: [v], of: loss)[0]
      let constant = AutodiffMode.withoutRecording { matmul(x, w.requiringGradient()) }
      precondition(!constant.requiresGradient)
      return [g.value, hv.value]
    }
    let serial = (0..<8).map { work(UInt64($0)) }
    let concurrent = await withTaskGroup(of: (Int, [NDArray<Double>]).self) { group in
      for i in 0..<8 { group.addTask { (i, work(UInt64(i))) } }
      var results = [[NDArray<Double>]](repeating: [], count: 8)
      for await (i, r) in group { results[i] = r }
      return results
    }
    #expect(concurrent == serial)
  }

  // MARK: Recording modes

  @Test func withoutRecordingGivesConstants() {
    let x = Tensor<Double>(NDArray([1, 2, 3])).requiringGradient()
    #expect(x.requiresGradient)
    #expect(AutodiffMode.current.recordsOperations)
    let v = Tensor<Double>(NDArray([1, 0, -1]))
    AutodiffMode.withoutRecording {
      #expect(!AutodiffMode.current.recordsOperations)
      let y = x * x
      #expect(!y.requiresGradient)
      #expect(!x.exp().sum().requiresGradient)
      #expect(!matmul(x.reshaped([1, 3]), x.reshaped([3, 1])).requiresGradient)
      #expect(!x.reshaped([3, 1]).broadcast(to: [3, 2]).requiresGradient)
      // Forward-mode tangents still propagate.
      let dual = Tensor<Double>(NDArray([1, 2, 3])).withTangent(v)
      let t = (dual * dual).tangent
      #expect(t?.value == NDArray([2, 0, -6]))
      // Transforms still work inside: they turn recording on for their own graph.
      let g = gradient(at: Tensor<Double>(NDArray([1, 2, 3]))) { ($0 * $0).sum() }
      #expect(g.value == NDArray([2, 4, 6]))
    }
    #expect(AutodiffMode.current.recordsOperations)
    #expect((x * x).requiresGradient)
    #expect(!(x * x).detached().requiresGradient)
    #expect(!Tensor<Double>(NDArray([1])).exp().requiresGradient)
  }

  @Test func transformsReturnConstantsAtTopLevelAndGraphsWhenNested() {
    let x = Tensor<Double>(NDArray([0.5, 1.5]))
    let (value, g) = valueAndGradient(at: x) { ($0 * $0 * $0).sum() }
    #expect(!value.requiresGradient && !g.requiresGradient)
    let (vjpValue, cotangents) = vjp(at: [x], cotangent: Tensor(NDArray([1, 1]))) { $0[0].exp() }
    #expect(!vjpValue.requiresGradient && !cotangents[0].requiresGradient)
    _ = gradient(at: x) { x in
      let (innerValue, inner) = valueAndGradient(at: x) { ($0 * $0 * $0).sum() }
      #expect(innerValue.requiresGradient && inner.requiresGradient)
      return inner.sum()
    }
    let hv = hessianVectorProduct(at: [x], along: [Tensor(NDArray([1, 1]))]) { ($0[0] * $0[0] * $0[0]).sum() }
    #expect(!hv[0].requiresGradient && hv[0].tangent == nil)
    #expect(hv[0].value == NDArray([3, 9]))
  }

  // MARK: Non-scalar VJP and JVP

  @Test func vjpOfNonScalarFunction() {
    var rng = RandomGenerator(seed: 81)
    let w: NDArray<Double> = rng.normalArray(shape: [4, 3]), x: NDArray<Double> = rng.normalArray(shape: [3, 2])
    let u: NDArray<Double> = rng.normalArray(shape: [4, 2])
    let (value, cotangents) = vjp(at: [Tensor(w), Tensor(x)], cotangent: Tensor(u)) { p in matmul(p[0], p[1]) }
    assertClose(value.value, matmul(w, x), rtol: 1e-14)
    assertClose(cotangents[0].value, matmul(u, x, transposeB: true), rtol: 1e-13, atol: 1e-14)  // u xᵀ
    assertClose(cotangents[1].value, matmul(w, u, transposeA: true), rtol: 1e-13, atol: 1e-14)  // wᵀ u
    // The identity: the cotangent comes straight back.
    let ux: NDArray<Double> = rng.normalArray(shape: [3, 2])
    #expect(vjp(at: [Tensor(x)], cotangent: Tensor(ux)) { $0[0] }.cotangents[0].value == ux)
  }

  @Test func jvpOfNonScalarFunction() {
    var rng = RandomGenerator(seed: 82)
    let w: NDArray<Double> = rng.normalArray(shape: [4, 3]), x: NDArray<Double> = rng.normalArray(shape: [3, 2])
    let dw: NDArray<Double> = rng.normalArray(shape: [4, 3]), dx: NDArray<Double> = rng.normalArray(shape: [3, 2])
    let (value, tangent) = jvp(at: [Tensor(w), Tensor(x)], tangents: [Tensor(dw), Tensor(dx)]) { p in
      matmul(p[0], p[1]).tanh()
    }
    let y = matmul(w, x).map(.tanh)
    assertClose(value.value, y, rtol: 1e-14)
    let linear = matmul(dw, x) + matmul(w, dx)
    let slope = NDArray.binary(.subtract, NDArray(scalar: 1), y.map(.square))
    assertClose(tangent.value, NDArray.binary(.multiply, slope, linear), rtol: 1e-12, atol: 1e-14)
    #expect(value.tangent == nil && tangent.tangent == nil)
    // The identity: the tangent comes straight back.
    #expect(jvp(at: [Tensor(x)], tangents: [Tensor(dx)]) { $0[0] }.tangent.value == dx)
  }

  // MARK: Second order

  @Test func hessianVectorProductIsSymmetric() {
    var rng = RandomGenerator(seed: 83)
    let shapes = [[3, 2], [2], [2, 2]]
    let params = shapes.map { Tensor<Double>(rng.normalArray(shape: $0)) }
    let u = shapes.map { Tensor<Double>(rng.normalArray(shape: $0)) }
    let v = shapes.map { Tensor<Double>(rng.normalArray(shape: $0)) }
    let x = Tensor<Double>(rng.normalArray(shape: [4, 3]))
    func loss(_ p: [Tensor<Double>]) -> Tensor<Double> {
      let h = (matmul(x, p[0]) + p[1]).softplus()
      return matmul(h, p[2]).sigmoid().squared().mean() + (p[0] * p[0]).sum().sqrt()
    }
    let hv = hessianVectorProduct(at: params, along: v, of: loss)
    let hu = hessianVectorProduct(at: params, along: u, of: loss)
    let uHv = zip(u, hv).map { $0.value.dot($1.value) }.reduce(0, +)
    let vHu = zip(v, hu).map { $0.value.dot($1.value) }.reduce(0, +)
    assertClose(uHv, vHu, rtol: 1e-12, atol: 1e-14)
    // Linear in the direction: H(2u + v) = 2Hu + Hv.
    let combined = hessianVectorProduct(at: params, along: zip(u, v).map { 2 * $0 + $1 }, of: loss)
    for i in 0..<3 {
      assertClose(combined[i].value, 2 * hu[i].value + hv[i].value, rtol: 1e-12, atol: 1e-14)
    }
  }

  // MARK: Float against Double

  @Test func floatMatchesDouble() {
    var rng = RandomGenerator(seed: 84)
    let shapes = [[2, 3, 4], [5, 4], [5], [5, 2]]
    let params: [NDArray<Double>] = shapes.map { rng.normalArray(shape: $0) }
    let directions: [NDArray<Double>] = shapes.map { rng.normalArray(shape: $0) }
    let cotangent: NDArray<Double> = rng.normalArray(shape: [2, 3, 2])
    func network<T: BLASScalar>(_ p: [Tensor<T>]) -> Tensor<T> {
      let h = (matmul(p[0], p[1], transposeB: true) + p[2]).gelu()
      let z = matmul(h.tanh(), p[3]) - matmul(h.softplus(), p[3]).sigmoid()
      return Tensor.maximum(z, z * 0.1).exp() / (1 + h.abs().mean(alongAxis: -1, keepingDimensions: true))
    }
    func loss<T: BLASScalar>(_ p: [Tensor<T>]) -> Tensor<T> { network(p).squared().mean(alongAxes: [0, 2]).sum() }

    func results<T: BLASScalar>(_: T.Type) -> [NDArray<Double>] {
      let p = params.map { Tensor($0.converted(to: T.self)) }
      let d = directions.map { Tensor($0.converted(to: T.self)) }
      let (value, g) = valueAndGradient(at: p, of: loss)
      let (_, cotangents) = vjp(at: p, cotangent: Tensor(cotangent.converted(to: T.self)), of: network)
      let (_, tangent) = jvp(at: p, tangents: d, of: network)
      let hv = hessianVectorProduct(at: p, along: d, of: loss)
      return ([value] + g + cotangents + [tangent] + hv).map { $0.value.converted(to: Double.self) }
    }
    let single = results(Float.self), double = results(Double.self)
    #expect(single.count == double.count)
    for (i, (s, d)) in zip(single, double).enumerated() {
      assertClose(s, d, rtol: 1e-4, atol: 1e-4 * (d.norm() / Double(d.count).squareRoot()), "result \(i)")
    }
  }

  // MARK: Preconditions

  @Test func misuseStops() async {
    await #expect(processExitsWith: .failure) {
      _ = gradient(at: Tensor<Double>(NDArray([1, 2]))) { $0 * 2 }  // not a scalar
    }
    await #expect(processExitsWith: .failure) {
      _ = vjp(at: [Tensor<Double>(NDArray([1, 2]))], cotangent: Tensor(NDArray([1, 2, 3]))) { $0[0] }
    }
    await #expect(processExitsWith: .failure) {
      _ = jvp(at: [Tensor<Double>(NDArray([1, 2]))], tangents: [Tensor(NDArray([1]))]) { $0[0] }
    }
    await #expect(processExitsWith: .failure) {
      let x = Tensor<Double>(NDArray([1, 2]))  // does not require gradients
      _ = gradients(of: [x * x], seeds: [Tensor(NDArray([1, 1]))], wrt: [x])
    }
  }

  // MARK: Graph lifetime

  /// The graph holds the inputs' values (pullbacks capture them). A probe array shares its
  /// storage with the input; once the transform returns and the graph is freed, the probe
  /// is again the storage's only owner, so mutable access does not copy it.
  /// Creates the tensor and runs `run` in a frame of its own, so that in optimized builds
  /// the temporary's lifetime ends when this returns, not at the optimizer's discretion.
  @inline(never)
  static func runWithTemporaryTensor(_ value: NDArray<Double>, _ run: (Tensor<Double>) -> Void) {
    run(Tensor(value))
  }

  @Test func graphIsFreedAfterTransformsReturn() {
    func storageIsUnshared(_ run: (Tensor<Double>) -> Void) -> Bool {
      // Built at run time: in optimized builds an array literal becomes statically
      // initialized storage, which is never uniquely referenced and so always copies.
      var probe = NDArray<Double>((0..<4).map { Double($0) * 0.75 - 1 })
      let before = probe.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
      Self.runWithTemporaryTensor(probe, run)
      let after = probe.withUnsafeMutableBufferPointer { UInt(bitPattern: $0.baseAddress) }
      return before == after
    }
    func f(_ x: Tensor<Double>) -> Tensor<Double> { (x * x).exp().tanh() * x }
    let ones = Tensor<Double>(NDArray([1, 1, 1, 1]))

    // Control: while a recorded result is alive, the probe's storage is shared.
    var kept: Tensor<Double>? = nil
    #expect(!storageIsUnshared { x in kept = f(x.requiringGradient()) })
    #expect(kept?.requiresGradient == true)
    kept = nil

    #expect(storageIsUnshared { x in _ = gradient(at: x) { f($0).sum() } })
    #expect(storageIsUnshared { x in _ = valueAndGradient(at: [x, x]) { (f($0[0]) * $0[1]).sum() } })
    #expect(storageIsUnshared { x in _ = vjp(at: [x], cotangent: ones) { f($0[0]) } })
    #expect(storageIsUnshared { x in _ = jvp(at: [x], tangents: [ones]) { f($0[0]) } })
    #expect(storageIsUnshared { x in _ = hessianVectorProduct(at: [x], along: [ones]) { f($0[0]).sum() } })
    #expect(storageIsUnshared { x in _ = gradient(at: x) { x in (gradient(at: x) { f($0).sum() } * x).sum() } })
    #expect(storageIsUnshared { x in
      let leaf = x.requiringGradient()
      _ = gradients(of: [f(leaf)], seeds: [ones], wrt: [leaf], createGraph: true)
    })
  }
}
