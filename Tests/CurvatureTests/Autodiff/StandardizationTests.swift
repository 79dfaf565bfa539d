import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// `Tensor.standardized(alongAxes:epsilon:)`, LayerNorm's core as one primitive: every
/// derivative against finite differences (`DerivativeCheck`, Double), and values, gradients,
/// Hessian-vector products and JVPs against the operations that spell it out (the code it
/// replaced in `Functional.layerNorm`), in Float and Double.
@Suite struct StandardizationTests {
  @Test func derivatives() {
    let x = DerivativeCheck.normal([3, 4, 5], seed: 21)
    for axes in [[2], [1, 2], [0], [-1]] {
      DerivativeCheck.check("standardized over \(axes)", at: [x]) { $0[0].standardized(alongAxes: axes, epsilon: 1e-5) }
    }
    // A large ε, so the variance and ε weigh alike in the second derivative.
    DerivativeCheck.check("standardized, ε = 0.7", at: [x]) { $0[0].standardized(alongAxes: [2], epsilon: 0.7) }
    // Composed with a broadcast product, so the input is live (recorded).
    let scale = DerivativeCheck.uniform([5], in: 0.5..<1.5, seed: 22)
    DerivativeCheck.check("standardized(x ⊙ s)", at: [x, scale]) { ($0[0] * $0[1]).standardized(alongAxes: [2], epsilon: 1e-5) }
  }

  @Test func matchesSpelledOutFormFloat() { checkSpelledOut(Float.self) }
  @Test func matchesSpelledOutFormDouble() { checkSpelledOut(Double.self) }

  /// Each slice has mean 0 and variance σ²/(σ² + ε); a constant slice gives zeros.
  @Test func slicesAreStandardized() {
    let raw = DerivativeCheck.normal([6, 8], seed: 23).scalars.map { 3 * $0 + 2 }
    let y = Tensor<Double>(NDArray(shape: [6, 8], scalars: raw)).standardized(alongAxes: [1], epsilon: 0).value
    for row in 0..<6 {
      let slice: [Double] = Array(y.scalars[(row * 8)..<(row * 8 + 8)])
      let mean: Double = slice.reduce(0, +) / 8
      let squares: [Double] = slice.map { ($0 - mean) * ($0 - mean) }
      let variance: Double = squares.reduce(0, +) / 8
      #expect(Swift.abs(mean) < 1e-14 && Swift.abs(variance - 1) < 1e-13, "row \(row): mean \(mean), variance \(variance)")
    }
    let constant = Tensor<Double>(NDArray(repeating: 4, shape: [2, 3])).standardized(alongAxes: [1], epsilon: 1e-5)
    #expect(constant.value == NDArray(zeros: [2, 3]))
  }

  private func checkSpelledOut<T: BLASScalar & TestTolerance>(_: T.Type) {
    let x = Tensor<T>(DerivativeCheck.normal([3, 4, 5], seed: 24).converted())
    let w = Tensor<T>(DerivativeCheck.normal([3, 4, 5], seed: 25).converted())
    let v = Tensor<T>(DerivativeCheck.normal([3, 4, 5], seed: 26).converted())
    for axes in [[2], [1, 2], [0]] {
      let primitive: (Tensor<T>) -> Tensor<T> = { $0.standardized(alongAxes: axes, epsilon: T(1e-5)) }
      let spelled: (Tensor<T>) -> Tensor<T> = { x in
        let centered = x - x.mean(alongAxes: axes, keepingDimensions: true)
        return centered / (centered.squared().mean(alongAxes: axes, keepingDimensions: true) + T(1e-5)).sqrt()
      }
      SpelledOutForm.expectMatch("over \(axes) \(T.self)", at: x, weights: w, along: v,
                                 primitive: primitive, spelled: spelled)
    }
  }
}
