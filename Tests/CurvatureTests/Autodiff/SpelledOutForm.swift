import Curvature
import CurvatureTestSupport
import Testing

/// The check of a primitive against the Tensor operations that spell it out (the code it
/// replaced): the same value bits, and gradient, Hessian-vector product and JVP within the
/// scalar type's test tolerances.
enum SpelledOutForm {
  /// Compares `primitive` and `spelled` at `x`: values bit for bit; gradients and
  /// Hessian-vector products (along `v`) of `Σ w ⊙ tanh(f(x))`, a nonlinear outer function
  /// so the Hessian has both second-derivative terms; JVPs along `v`.
  static func expectMatch<T: BLASScalar & TestTolerance>(
    _ label: String, at x: Tensor<T>, weights w: Tensor<T>, along v: Tensor<T>,
    primitive: @escaping (Tensor<T>) -> Tensor<T>, spelled: @escaping (Tensor<T>) -> Tensor<T>,
    sourceLocation: SourceLocation = #_sourceLocation
  ) {
    let (rtol, atol) = (T.testRelativeTolerance, T.testAbsoluteTolerance)
    #expect(primitive(x).value == spelled(x).value, "\(label): values differ from the spelled-out form",
            sourceLocation: sourceLocation)
    func s(_ f: @escaping (Tensor<T>) -> Tensor<T>) -> (Tensor<T>) -> Tensor<T> { { (w * f($0).tanh()).sum() } }
    assertClose(gradient(at: x, of: s(primitive)).value, gradient(at: x, of: s(spelled)).value,
                rtol: rtol, atol: atol, "\(label) gradient", sourceLocation: sourceLocation)
    assertClose(hessianVectorProduct(at: [x], along: [v]) { s(primitive)($0[0]) }[0].value,
                hessianVectorProduct(at: [x], along: [v]) { s(spelled)($0[0]) }[0].value,
                rtol: rtol, atol: atol, "\(label) Hessian-vector product", sourceLocation: sourceLocation)
    assertClose(jvp(at: [x], tangents: [v]) { primitive($0[0]) }.tangent.value,
                jvp(at: [x], tangents: [v]) { spelled($0[0]) }.tangent.value,
                rtol: rtol, atol: atol, "\(label) JVP", sourceLocation: sourceLocation)
  }
}
