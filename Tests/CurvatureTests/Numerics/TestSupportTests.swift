import Curvature
import CurvatureTestSupport
import Testing

/// Self-checks of CurvatureTestSupport: `closeness` must reject what it should (so tests
/// built on it can fail), and finite differences must match analytic derivatives.
@Suite struct TestSupportTests {
  @Test func closenessFloat() { checkCloseness(Float.self) }
  @Test func closenessDouble() { checkCloseness(Double.self) }

  @Test func assertCloseRecordsAnIssue() {
    // The failing comparison must surface as a test issue naming the worst entry.
    withKnownIssue {
      assertClose(NDArray<Double>([1, 2, 3]), NDArray([1, 2, 4]), rtol: 1e-10, atol: 0, "deliberate")
    } matching: { issue in
      issue.description.contains("deliberate") && issue.description.contains("[2]")
    }
    withKnownIssue {
      assertClose(Float(1), Float(1.5), rtol: 1e-4)
    }
  }

  @Test func finiteDifferenceGradient() {
    // f(x) = sin(x₀) x₁² + exp(x₂)/3 + x₀ x₂, with an analytic gradient.
    func f(_ x: [Double]) -> Double { Double.sin(x[0]) * x[1] * x[1] + Double.exp(x[2]) / 3 + x[0] * x[2] }
    func gradient(_ x: [Double]) -> [Double] {
      [Double.cos(x[0]) * x[1] * x[1] + x[2], 2 * Double.sin(x[0]) * x[1], Double.exp(x[2]) / 3 + x[0]]
    }
    for x in [[0.3, -1.2, 0.5], [1.7, 2.0, -0.4], [0, 0, 0]] {
      let numeric = FiniteDifferences.gradient(of: f, at: x)
      let analytic = gradient(x)
      #expect(numeric.count == 3)
      for i in 0..<3 {
        #expect(abs(numeric[i] - analytic[i]) <= 1e-8, "∂f/∂x\(i) at \(x): \(numeric[i]) vs \(analytic[i])")
      }
    }
    // A quadratic: central differences are exact up to rounding.
    let quadratic = FiniteDifferences.gradient(of: { 3 * $0[0] * $0[0] - $0[0] * $0[1] }, at: [2, 5])
    #expect(abs(quadratic[0] - 7) <= 1e-8 && abs(quadratic[1] + 2) <= 1e-8)
  }

  @Test func finiteDifferenceJacobianAndHessian() {
    // g(x) = (x₀ x₁, sin x₁) has Jacobian [[x₁, x₀], [0, cos x₁]].
    let x = [0.7, -0.3]
    let jacobian = FiniteDifferences.jacobian(of: { [$0[0] * $0[1], Double.sin($0[1])] }, at: x)
    assertClose(jacobian, NDArray(rows: [[x[1], x[0]], [0, Double.cos(x[1])]]), rtol: 1e-8, atol: 1e-8)
    // f = x₀² x₁ has gradient (2 x₀ x₁, x₀²) and Hessian [[2 x₁, 2 x₀], [2 x₀, 0]].
    let hessian = FiniteDifferences.hessian(ofGradient: { [2 * $0[0] * $0[1], $0[0] * $0[0]] }, at: x)
    assertClose(hessian, NDArray(rows: [[2 * x[1], 2 * x[0]], [2 * x[0], 0]]), rtol: 1e-8, atol: 1e-8)
  }
}

private func checkCloseness<T: BLASScalar & TestTolerance>(_: T.Type) {
  let a = NDArray<T>(shape: [3, 4]) { T($0[0] * 4 + $0[1]) + 0.5 }

  // Identical arrays are close, even with zero tolerances.
  let same = closeness(a, a, rtol: 0, atol: 0)
  #expect(same.isClose, "\(same)")
  #expect(closeness(NDArray<T>(zeros: [0]), NDArray<T>(zeros: [0]), rtol: 0, atol: 0).isClose)

  // Shape mismatch, even with the same elements.
  let reshaped = closeness(a.reshaped([4, 3]), a, rtol: 1, atol: 1)
  #expect(!reshaped.isClose)
  #expect(reshaped.description.contains("[4, 3]") && reshaped.description.contains("[3, 4]"), "\(reshaped)")
  #expect(!closeness(a.flattened(), a, rtol: 1, atol: 1).isClose)

  // One perturbed entry, named by its multi-index.
  var perturbed = a
  perturbed[1, 2] += 0.01
  let one = closeness(perturbed, a, rtol: T.testRelativeTolerance, atol: T.testAbsoluteTolerance)
  #expect(!one.isClose)
  #expect(one.description.contains("[1, 2]"), "\(one)")
  #expect(one.description.contains("1 of 12"), "\(one)")
  // The same perturbation is within a loose tolerance, relative or absolute.
  #expect(closeness(perturbed, a, rtol: 0.01, atol: 0).isClose)
  #expect(closeness(perturbed, a, rtol: 0, atol: 0.02).isClose)
  // The worst of several entries is the one reported.
  perturbed[2, 0] -= 1
  let two = closeness(perturbed, a, rtol: T.testRelativeTolerance, atol: T.testAbsoluteTolerance)
  #expect(two.description.contains("[2, 0]") && two.description.contains("2 of 12"), "\(two)")

  // NaN never matches: in actual, in expected, or in both.
  var withNaN = a
  withNaN[0, 3] = .nan
  for (x, y) in [(withNaN, a), (a, withNaN), (withNaN, withNaN)] {
    let result = closeness(x, y, rtol: 1, atol: .infinity)
    #expect(!result.isClose, "\(result)")
    #expect(result.description.contains("[0, 3]"), "\(result)")
  }

  // Rank 3 indices are reported in full.
  var cube = NDArray<T>(zeros: [2, 3, 2])
  let reference = cube
  cube[1, 2, 0] = 1
  #expect(closeness(cube, reference, rtol: 0, atol: 0.5).description.contains("[1, 2, 0]"))
}
