import Curvature
import CurvatureTestSupport
import Testing

/// One conv2d configuration: input `[n, cin, h, w]`, weight `[cout, cin/groups, kh, kw]`.
struct ConvCase: Sendable, CustomTestStringConvertible {
  var name: String
  var n: Int, cin: Int, h: Int, w: Int
  var cout: Int, kh: Int, kw: Int
  var stride = (1, 1), padding = (0, 0), dilation = (1, 1)
  var groups = 1
  var bias = true

  var testDescription: String { name }
  var inputShape: [Int] { [n, cin, h, w] }
  var weightShape: [Int] { [cout, cin / groups, kh, kw] }

  static let all: [ConvCase] = [
    ConvCase(name: "3x3 plain, bias", n: 1, cin: 2, h: 5, w: 5, cout: 3, kh: 3, kw: 3),
    ConvCase(name: "stride 2, padding 1, N=3, no bias", n: 3, cin: 2, h: 6, w: 7, cout: 4, kh: 3, kw: 3,
             stride: (2, 2), padding: (1, 1), bias: false),
    ConvCase(name: "dilation 2, padding (0, 1)", n: 1, cin: 3, h: 7, w: 6, cout: 2, kh: 3, kw: 3,
             padding: (0, 1), dilation: (2, 2)),
    ConvCase(name: "groups 2, stride (1, 2), N=3", n: 3, cin: 4, h: 5, w: 6, cout: 6, kh: 3, kw: 3,
             stride: (1, 2), padding: (1, 1), groups: 2),
    ConvCase(name: "depthwise (groups = Cin), multiplier 2, no bias", n: 2, cin: 3, h: 5, w: 5, cout: 6, kh: 3, kw: 3,
             padding: (1, 1), groups: 3, bias: false),
    ConvCase(name: "3x2 kernel, 6x4 image, mixed stride/padding/dilation, N=3", n: 3, cin: 2, h: 6, w: 4, cout: 3,
             kh: 3, kw: 2, stride: (2, 1), padding: (1, 0), dilation: (1, 2)),
    ConvCase(name: "1x1 kernel (reshape fast path)", n: 2, cin: 3, h: 4, w: 3, cout: 2, kh: 1, kw: 1),
    ConvCase(name: "1x1 kernel, stride 2", n: 1, cin: 2, h: 5, w: 4, cout: 3, kh: 1, kw: 1, stride: (2, 2)),
    ConvCase(name: "stride 3 with leftover rows, padding 2", n: 1, cin: 1, h: 8, w: 5, cout: 2, kh: 2, kw: 2,
             stride: (3, 2), padding: (2, 2)),
    ConvCase(name: "kernel as large as the padded image", n: 2, cin: 2, h: 3, w: 2, cout: 1, kh: 5, kw: 4,
             padding: (1, 1), groups: 1),
  ]

  /// Deterministic random input, weight, bias.
  func operands<T: BLASScalar>(_: T.Type, seed: UInt64) -> (NDArray<T>, NDArray<T>, NDArray<T>?) {
    var rng = RandomGenerator(seed: seed)
    let x: NDArray<T> = rng.normalArray(shape: inputShape)
    let w: NDArray<T> = rng.normalArray(shape: weightShape)
    let b: NDArray<T>? = bias ? rng.normalArray(shape: [cout]) : nil
    return (x, w, b)
  }

  func apply<T: BLASScalar>(_ x: Tensor<T>, _ w: Tensor<T>, _ b: Tensor<T>?) -> Tensor<T> {
    conv2d(x, weight: w, bias: b, stride: stride, padding: padding, dilation: dilation, groups: groups)
  }

  func reference<T: BLASScalar>(_ x: NDArray<T>, _ w: NDArray<T>, _ b: NDArray<T>?) -> NDArray<T> {
    ConvolutionReference.conv2d(x, w, b, stride: stride, padding: padding, dilation: dilation, groups: groups)
  }
}

@Suite struct ConvolutionTests {
  // MARK: Values

  func checkValues<T: BLASScalar>(_ c: ConvCase, _: T.Type, rtol: T, atol: T) {
    let (x, w, b) = c.operands(T.self, seed: 11)
    let y = c.apply(Tensor(x), Tensor(w), b.map { Tensor($0) })
    let expected = c.reference(x, w, b)
    #expect(y.shape == expected.shape)
    assertClose(y.value, expected, rtol: rtol, atol: atol, c.name)
    #expect(!y.requiresGradient)
  }

  @Test(arguments: ConvCase.all) func valuesMatchNaiveLoopsDouble(_ c: ConvCase) {
    checkValues(c, Double.self, rtol: 1e-12, atol: 1e-12)
  }

  @Test(arguments: ConvCase.all) func valuesMatchNaiveLoopsFloat(_ c: ConvCase) {
    checkValues(c, Float.self, rtol: 1e-5, atol: 1e-5)
  }

  @Test func outputShapeFollowsPyTorch() {
    // torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)(torch.zeros(1, 3, 32, 31)).shape == [1, 8, 16, 16]
    let y = conv2d(
      Tensor<Float>(zeros: [1, 3, 32, 31]), weight: Tensor(zeros: [8, 3, 3, 3]), stride: (2, 2), padding: (1, 1))
    #expect(y.shape == [1, 8, 16, 16])
    // dilation 3, kernel 2x3: (10 - 3 - 1)/1 + 1 = 7, (9 - 6 - 1)/2 + 1 = 2
    let z = conv2d(
      Tensor<Float>(zeros: [2, 1, 10, 9]), weight: Tensor(zeros: [4, 1, 2, 3]), stride: (1, 2), dilation: (3, 3))
    #expect(z.shape == [2, 4, 7, 2])
  }

  @Test func invalidShapesArePreconditionFailures() async {
    // Input channels not divisible by groups.
    await #expect(processExitsWith: .failure) {
      _ = conv2d(Tensor<Double>(zeros: [1, 3, 5, 5]), weight: Tensor(zeros: [4, 1, 3, 3]), groups: 2)
    }
    // Weight's input channels differ from Cin / groups.
    await #expect(processExitsWith: .failure) {
      _ = conv2d(Tensor<Double>(zeros: [1, 4, 5, 5]), weight: Tensor(zeros: [4, 4, 3, 3]), groups: 2)
    }
    // Bias not [Cout].
    await #expect(processExitsWith: .failure) {
      _ = conv2d(Tensor<Double>(zeros: [1, 2, 5, 5]), weight: Tensor(zeros: [4, 2, 3, 3]), bias: Tensor(zeros: [2]))
    }
    // Empty output.
    await #expect(processExitsWith: .failure) {
      _ = conv2d(Tensor<Double>(zeros: [1, 2, 2, 5]), weight: Tensor(zeros: [4, 2, 3, 3]))
    }
  }

  @Test func unbatchedInput() {
    let c = ConvCase.all[3]
    let (x, w, b) = c.operands(Double.self, seed: 5)
    let batched = c.apply(Tensor(x), Tensor(w), b.map { Tensor($0) })
    let first = Tensor<Double>(x).reshaped([c.n, -1]).value.scalars.prefix(c.cin * c.h * c.w)
    let single = c.apply(Tensor(NDArray(shape: [c.cin, c.h, c.w], scalars: Array(first))), Tensor(w), b.map { Tensor($0) })
    #expect(single.shape == Array(batched.shape.dropFirst()))
    let expected = Array(batched.value.scalars.prefix(single.count))
    assertClose(single.value, NDArray(shape: single.shape, scalars: expected), rtol: 1e-14)
  }

  // MARK: First order

  static let derivativeCases = [ConvCase.all[1], ConvCase.all[3], ConvCase.all[4], ConvCase.all[5]]

  @Test(arguments: derivativeCases) func vjpMatchesFiniteDifferences(_ c: ConvCase) {
    let (x, w, b) = c.operands(Double.self, seed: 21)
    var rng = RandomGenerator(seed: 22)
    let outputShape = c.reference(x, w, b).shape
    let u = Tensor<Double>(rng.normalArray(shape: outputShape))
    var inputs = [Tensor(x), Tensor(w)]
    if let b { inputs.append(Tensor(b)) }
    let (value, cotangents) = vjp(at: inputs, cotangent: u) { p in c.apply(p[0], p[1], p.count > 2 ? p[2] : nil) }
    assertClose(value.value, c.reference(x, w, b), rtol: 1e-12, atol: 1e-12)

    for (k, input) in inputs.enumerated() {
      let fd = FiniteDifferences.gradient(of: { p in
        var args = inputs
        args[k] = convTestTensor(input.shape, p)
        return c.reference(args[0].value, args[1].value, args.count > 2 ? args[2].value : nil).dot(u.value)
      }, at: input.value.scalars)
      assertClose(cotangents[k].value, NDArray(shape: input.shape, scalars: fd), rtol: 1e-7, atol: 1e-8,
                  "\(c.name), input \(k)")
    }
  }

  @Test(arguments: derivativeCases) func jvpMatchesFiniteDifferences(_ c: ConvCase) {
    let (x, w, b) = c.operands(Double.self, seed: 31)
    var rng = RandomGenerator(seed: 32)
    var inputs = [Tensor(x), Tensor(w)]
    if let b { inputs.append(Tensor(b)) }
    let tangents = inputs.map { Tensor<Double>(rng.normalArray(shape: $0.shape)) }
    let f: ([Tensor<Double>]) -> Tensor<Double> = { p in c.apply(p[0], p[1], p.count > 2 ? p[2] : nil) }
    let (value, tangent) = jvp(at: inputs, tangents: tangents, of: f)
    assertClose(value.value, c.reference(x, w, b), rtol: 1e-12, atol: 1e-12)

    let shapes = inputs.map(\.shape)
    func unflatten(_ p: [Double]) -> [Tensor<Double>] {
      var offset = 0
      return shapes.map { shape in
        defer { offset += NDArray<Double>.elementCount(shape) }
        return convTestTensor(shape, p[offset..<(offset + NDArray<Double>.elementCount(shape))])
      }
    }
    let fd = FiniteDifferences.directionalDerivative(
      of: { p in f(unflatten(p)).value.scalars },
      at: inputs.flatMap(\.value.scalars), along: tangents.flatMap(\.value.scalars))
    assertClose(tangent.value, NDArray(shape: value.shape, scalars: fd), rtol: 1e-7, atol: 1e-8, c.name)

    // ⟨u, J v⟩ = ⟨Jᵀ u, v⟩
    let u = Tensor<Double>(rng.normalArray(shape: value.shape))
    let (_, cotangents) = vjp(at: inputs, cotangent: u, of: f)
    let lhs = u.value.dot(tangent.value)
    let rhs = zip(cotangents, tangents).map { $0.value.dot($1.value) }.reduce(0, +)
    assertClose(lhs, rhs, rtol: 1e-12, atol: 1e-12)
  }

  @Test func gradientsInFloat() {
    // The Float path through the same primitives agrees with Double.
    let c = ConvCase.all[3]
    let (x, w, b) = c.operands(Double.self, seed: 41)
    let loss: ([Tensor<Double>]) -> Tensor<Double> = { p in c.apply(p[0], p[1], p[2]).tanh().sum() }
    let lossF: ([Tensor<Float>]) -> Tensor<Float> = { p in c.apply(p[0], p[1], p[2]).tanh().sum() }
    let g = gradient(at: [Tensor(x), Tensor(w), Tensor(b!)], of: loss)
    let gf = gradient(at: [Tensor(x.converted(to: Float.self)), Tensor(w.converted(to: Float.self)), Tensor(b!.converted(to: Float.self))], of: lossF)
    for (a, e) in zip(gf, g) {
      assertClose(a.value, e.value.converted(to: Float.self), rtol: 1e-4, atol: 1e-4)
    }
  }

  // MARK: Second order

  /// A small CNN: conv (padding 1) → tanh → grouped conv (stride 2) → sum of squares.
  static func cnnLoss(_ x: Tensor<Double>, _ p: [Tensor<Double>]) -> Tensor<Double> {
    let h = conv2d(x, weight: p[0], bias: p[1], padding: (1, 1)).tanh()
    return conv2d(h, weight: p[2], bias: p[3], stride: (2, 2), groups: 2).squared().sum()
  }

  static func cnnSetup() -> (x: Tensor<Double>, params: [Tensor<Double>], directions: [Tensor<Double>]) {
    var rng = RandomGenerator(seed: 51)
    let x = Tensor<Double>(rng.normalArray(shape: [2, 2, 5, 5]))
    let shapes = [[4, 2, 3, 3], [4], [2, 2, 2, 2], [2]]
    let params = shapes.map { Tensor<Double>(0.5 * rng.normalArray(shape: $0, Double.self)) }
    let directions = shapes.map { Tensor<Double>(rng.normalArray(shape: $0)) }
    return (x, params, directions)
  }

  @Test func cnnHessianVectorProductMatchesFiniteDifferences() {
    let (x, params, v) = Self.cnnSetup()
    let hv = hessianVectorProduct(at: params, along: v) { Self.cnnLoss(x, $0) }
    let shapes = params.map(\.shape)
    func unflatten(_ p: [Double]) -> [Tensor<Double>] {
      var offset = 0
      return shapes.map { shape in
        defer { offset += NDArray<Double>.elementCount(shape) }
        return convTestTensor(shape, p[offset..<(offset + NDArray<Double>.elementCount(shape))])
      }
    }
    let h = FiniteDifferences.hessian(ofGradient: { p in
      gradient(at: unflatten(p)) { Self.cnnLoss(x, $0) }.flatMap(\.value.scalars)
    }, at: params.flatMap(\.value.scalars))
    let expected = matvec(h, NDArray(v.flatMap(\.value.scalars)))
    assertClose(NDArray(hv.flatMap(\.value.scalars)), expected, rtol: 1e-6, atol: 1e-8)
  }

  @Test func cnnGradientOfGradientEqualsHessianVectorProduct() {
    let (x, params, v) = Self.cnnSetup()
    let hv = hessianVectorProduct(at: params, along: v) { Self.cnnLoss(x, $0) }
    let nested = gradient(at: params) { p in
      let g = gradient(at: p) { Self.cnnLoss(x, $0) }
      return zip(g, v).map { ($0 * $1).sum() }.reduce(Tensor(scalar: 0), +)
    }
    for (a, e) in zip(nested, hv) { assertClose(a.value, e.value, rtol: 1e-10, atol: 1e-12) }
  }

  @Test func cnnHessianVectorProductWithRespectToInput() {
    // Second derivatives through the input path: unfold's differential and fold's pullback.
    let (x, params, _) = Self.cnnSetup()
    var rng = RandomGenerator(seed: 61)
    let small = Tensor<Double>(NDArray(shape: [1, 2, 5, 5], scalars: Array(x.value.scalars.prefix(50))))
    let v = Tensor<Double>(rng.normalArray(shape: small.shape))
    let hv = hessianVectorProduct(at: [small], along: [v]) { Self.cnnLoss($0[0], params) }
    let h = FiniteDifferences.hessian(ofGradient: { p in
      gradient(at: convTestTensor(small.shape, p)) { Self.cnnLoss($0, params) }.value.scalars
    }, at: small.value.scalars)
    assertClose(hv[0].value, matvec(h, v.value.flattened()).reshaped(small.shape), rtol: 1e-6, atol: 1e-8)
  }
}
