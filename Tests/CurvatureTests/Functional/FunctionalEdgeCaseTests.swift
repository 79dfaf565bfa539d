import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// PyTorch behaviours the fixtures do not pin down: the pooling size rule, NaN and −∞ in
/// max pooling, exact fills, the branch taken at kinks and the softplus threshold.
@Suite struct FunctionalEdgeCaseTests {
  @Test("poolOutputSize follows PyTorch, including the ceil-mode last-window rule")
  func poolOutputSize() {
    // (input, kernel, stride, padding, dilation, ceil) → PyTorch's max_pool1d output length.
    let cases: [(Int, Int, Int, Int, Int, Bool, Int)] = [
      (5, 2, 2, 1, 1, true, 3), (5, 2, 2, 1, 1, false, 3), (6, 3, 2, 0, 1, true, 3), (6, 3, 2, 0, 1, false, 2),
      (10, 3, 2, 1, 2, true, 5), (7, 3, 3, 1, 1, true, 3), (8, 4, 3, 2, 1, true, 4), (1, 2, 2, 1, 1, true, 1),
      (3, 3, 1, 0, 2, false, -1),
    ]
    for (n, k, s, p, d, ceil, expected) in cases {
      #expect(
        Functional.poolOutputSize(inputSize: n, kernelSize: k, stride: s, padding: p, dilation: d, ceilMode: ceil)
          == expected, "input \(n), kernel \(k), stride \(s), padding \(p), dilation \(d), ceil \(ceil)")
    }
  }

  @Test("max pooling lets NaN win and keeps −∞ windows at −∞, as PyTorch")
  func maxPoolNaNAndInfinity() {
    let x = Tensor<Double>(shape: [1, 1, 4], scalars: [1, .nan, 3, 2])
    let y = Functional.maxPool1d(x, kernelSize: [3], stride: [1], padding: [0], dilation: [1], ceilMode: false)
    #expect(y.shape == [1, 1, 2] && y.value.scalars.allSatisfy(\.isNaN))
    let infinite = Tensor<Float>(shape: [1, 2], scalars: [-.infinity, -.infinity])
    let z = Functional.maxPool1d(infinite, kernelSize: [2], stride: [1], padding: [1], dilation: [1], ceilMode: false)
    #expect(z.value.scalars == [-.infinity, -.infinity, -.infinity])
  }

  @Test("max pooling sends the gradient to the first of tied maxima")
  func maxPoolTies() {
    let x = Tensor<Double>(shape: [1, 1, 2, 2], scalars: [2, 2, 2, 1])
    let g = gradient(at: x) { x in
      Functional.maxPool2d(x, kernelSize: [2], stride: [], padding: [0], dilation: [1], ceilMode: false).sum()
    }
    #expect(g.value.scalars == [1, 0, 0, 0])
  }

  @Test("masked fill writes the value exactly, even over infinities, and blocks the gradient")
  func maskedFillIsExact() {
    let x = Tensor<Float>(shape: [4], scalars: [.infinity, -1, .nan, 2])
    let mask = Tensor<Float>(shape: [4], scalars: [1, 0, 1, 0])
    let y = Functional.maskedFill(x, mask: mask, value: -.infinity)
    #expect(y.value.scalars == [-.infinity, -1, -.infinity, 2])
    let g = gradient(at: Tensor<Float>(shape: [4], scalars: [3, -1, 5, 2])) { x in
      Functional.maskedFill(x, mask: mask, value: 7).squared().sum()
    }
    #expect(g.value.scalars == [0, -2, 0, 4])
  }

  @Test("kinks take PyTorch's branch: ReLU 0, leaky ReLU the slope, ELU α at 0")
  func derivativesAtZero() {
    let zero = Tensor<Double>(shape: [1], scalars: [0])
    #expect(gradient(at: zero) { Functional.relu($0).sum() }.value.scalars == [0])
    #expect(gradient(at: zero) { Functional.leakyReLU($0, negativeSlope: 0.2).sum() }.value.scalars == [0.2])
    #expect(gradient(at: zero) { Functional.elu($0, alpha: 0.5).sum() }.value.scalars == [0.5])
  }

  @Test("softplus above the threshold is the identity with derivative 1 and curvature 0")
  func softplusThreshold() {
    let x = Tensor<Double>(shape: [3], scalars: [1.6, 0.3, -4])
    let y = Functional.softplus(x, beta: 2, threshold: 3)
    #expect(y.value.scalars[0] == 1.6)
    assertClose(y.value.scalars[1], Foundation.log1p(Foundation.exp(0.6)) / 2, rtol: 1e-14)
    let g = gradient(at: x) { Functional.softplus($0, beta: 2, threshold: 3).sum() }
    #expect(g.value.scalars[0] == 1)
    let hv = hessianVectorProduct(at: [x], along: [Tensor(shape: [3], scalars: [1, 0, 0])]) {
      Functional.softplus($0[0], beta: 2, threshold: 3).sum()
    }
    #expect(hv[0].value.scalars == [0, 0, 0])
  }

  @Test("attention rows with every key masked are zero and pass no gradient")
  func fullyMaskedAttentionRow() {
    let q = Tensor<Double>(shape: [2, 3], scalars: [0.1, -0.4, 0.3, 0.7, 0.2, -0.5])
    let k = Tensor<Double>(shape: [2, 3], scalars: [0.5, 0.1, -0.2, -0.3, 0.8, 0.4])
    let v = Tensor<Double>(shape: [2, 2], scalars: [1, 2, 3, 4])
    let mask = Tensor<Double>(shape: [2, 2], scalars: [1, 1, 0, 0])
    func attend(_ q: Tensor<Double>) -> Tensor<Double> {
      Functional.scaledDotProductAttention(
        query: q, key: k, value: v, mask: mask, maskKind: .boolean, isCausal: false, scale: nil)
    }
    let y = attend(q)
    #expect(y.value.scalars[2...] == [0, 0])
    #expect(y.value.isFinite)
    let g = gradient(at: q) { attend($0).sum() }
    #expect(g.value.scalars[3...] == [0, 0, 0])
  }

  @Test("rms_norm without eps uses the precision's machine epsilon")
  func rmsNormDefaultEpsilon() {
    let x = Tensor<Float>(shape: [1, 2], scalars: [0, 0])
    let tiny = Tensor<Float>(shape: [1, 2], scalars: [1e-4, 0])
    // mean(x²) = 5e-9 is below Float's ε ≈ 1.19e-7, which therefore dominates.
    let y = Functional.rmsNorm(tiny, normalizedShape: [2], weight: nil, eps: nil)
    assertClose(y.value.scalars[0], 1e-4 / (5e-9 + Float.ulpOfOne).squareRoot(), rtol: 1e-5)
    #expect(Functional.rmsNorm(x, normalizedShape: [2], weight: nil, eps: nil).value.scalars == [0, 0])
  }

  @Test("conv2d takes one-entry attributes for both axes")
  func conv2dOneEntryAttributes() {
    var rng = RandomGenerator(seed: 7)
    let x = Tensor<Double>(rng.normalArray(shape: [1, 2, 6, 5], Double.self))
    let w = Tensor<Double>(rng.normalArray(shape: [3, 2, 3, 3], Double.self))
    let one = Functional.conv2d(x, weight: w, bias: nil, stride: [2], padding: [1], dilation: [1], groups: 1)
    let two = Functional.conv2d(x, weight: w, bias: nil, stride: [2, 2], padding: [1, 1], dilation: [1, 1], groups: 1)
    #expect(one.shape == [1, 3, 3, 3])
    #expect(one.value.scalars == two.value.scalars)
  }
}
