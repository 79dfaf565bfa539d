import Curvature
import CurvatureTestSupport
import Testing

/// LAPACK failures surface as thrown `LAPACKError`s naming the precision-prefixed routine
/// and its `info` code.
@Suite struct LAPACKErrorTests {
  @Test func choleskyOfIndefiniteMatrixFloat() { checkCholeskyFailure(Float.self) }
  @Test func choleskyOfIndefiniteMatrixDouble() { checkCholeskyFailure(Double.self) }
  @Test func luOfSingularMatrixFloat() { checkSingularLU(Float.self) }
  @Test func luOfSingularMatrixDouble() { checkSingularLU(Double.self) }
  @Test func nanInputFloat() { checkNaNInput(Float.self) }
  @Test func nanInputDouble() { checkNaNInput(Double.self) }
  @Test func bandCholeskyOfIndefiniteMatrixFloat() { checkBandFailure(Float.self) }
  @Test func bandCholeskyOfIndefiniteMatrixDouble() { checkBandFailure(Double.self) }

  @Test func descriptionInterpretsInfo() {
    let failure = LAPACKError(routine: "dpotrf", info: 2)
    #expect(failure.description.contains("dpotrf"))
    #expect(failure.description.contains("info = 2"))
    #expect(failure.reason.contains("order 2"))
    let illegal = LAPACKError(routine: "ssyevd", info: -5)
    #expect(illegal.description.contains("info = -5"))
    #expect(illegal.reason.contains("argument 5"))
    #expect(LAPACKError(routine: "sgetrf", info: 3).reason.contains("singular"))
  }
}

/// The routine name with the precision prefix LAPACK uses for `T`.
private func routine<T: BLASScalar>(_ base: String, _: T.Type) -> String {
  (T.self == Float.self ? "s" : "d") + base
}

private func checkCholeskyFailure<T: BLASScalar & TestTolerance>(_: T.Type) {
  // Leading minors 4, 16, -20: the minor of order 3 is the first that fails.
  let order3 = NDArray<T>(rows: [[4, 2, 0], [2, 5, 3], [0, 3, 1]])
  let error = #expect(throws: LAPACKError.self) { try order3.cholesky() }
  #expect(error?.routine == routine("potrf", T.self))
  #expect(error?.info == 3)
  let description = error?.description ?? ""
  #expect(description.contains(routine("potrf", T.self)), "\(description)")
  #expect(description.contains("info = "), "\(description)")
  #expect(description.contains("info = 3"), "\(description)")

  // Leading minors 1, -3, ...: order 2 fails.
  let order2 = NDArray<T>(rows: [[1, 2, 0, 0], [2, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
  let error2 = #expect(throws: LAPACKError.self) { try order2.cholesky() }
  #expect(error2?.routine == routine("potrf", T.self))
  #expect(error2?.info == 2)

  // The direct call with the upper triangle reports the same minor.
  var upper = order3.scalars
  do {
    try upper.withUnsafeMutableBufferPointer { (p: inout UnsafeMutableBufferPointer<T>) throws(LAPACKError) in
      try T.potrf(triangle: .upper, n: 3, a: p, lda: 3)
    }
    Issue.record("potrf of an indefinite matrix did not throw")
  } catch {
    #expect(error.routine == routine("potrf", T.self))
    #expect(error.info == 3)
  }

  // A negative definite 1×1 fails at order 1.
  let error1 = #expect(throws: LAPACKError.self) { try NDArray<T>(rows: [[-1]]).cholesky() }
  #expect(error1?.info == 1)
}

private func checkSingularLU<T: BLASScalar & TestTolerance>(_: T.Type) {
  // Column 2 is zero, so U(2, 2) is exactly zero whatever the pivoting.
  let singular = NDArray<T>(rows: [[1, 0, 2], [3, 0, 4], [5, 0, 6]])
  let error = #expect(throws: LAPACKError.self) { try singular.solve(NDArray([1, 2, 3])) }
  #expect(error?.routine == routine("getrf", T.self))
  #expect(error?.info == 2)
  #expect(error?.description.contains(routine("getrf", T.self)) == true)
  #expect(error?.description.contains("info = ") == true)

  let inverseError = #expect(throws: LAPACKError.self) { try singular.inverse() }
  #expect(inverseError?.routine == routine("getrf", T.self))

  // Rank one: rows proportional; the last pivot vanishes.
  let rankOne = NDArray<T>(rows: [[1, 2], [2, 4]])
  let error2 = #expect(throws: LAPACKError.self) { try rankOne.inverse() }
  #expect(error2?.routine == routine("getrf", T.self))
  #expect(error2?.info == 2)
}

private func checkNaNInput<T: BLASScalar & TestTolerance>(_: T.Type) {
  var poisoned: NDArray<T> = RandomMatrices.spd(4, seed: 130)
  poisoned[2, 1] = .nan  // in the lower triangle, which syevd reads
  let eigenError = #expect(throws: LAPACKError.self) { try poisoned.symmetricEigen() }
  #expect(eigenError?.routine == routine("syevd", T.self))
  #expect((eigenError?.info ?? 0) < 0, "NaN input is reported as an illegal argument")
  #expect(eigenError?.description.contains("info = -") == true)
  let valuesError = #expect(throws: LAPACKError.self) { try poisoned.symmetricEigenvalues() }
  #expect(valuesError?.routine == routine("syevd", T.self))
  #expect((valuesError?.info ?? 0) < 0)

  let svdError = #expect(throws: LAPACKError.self) { try poisoned.svd() }
  #expect(svdError?.routine == routine("gesvd", T.self))
  #expect((svdError?.info ?? 0) < 0)

  let determinantError = #expect(throws: LAPACKError.self) { try poisoned.signAndLogDeterminant() }
  #expect(determinantError?.routine == routine("getrf", T.self))
  #expect((determinantError?.info ?? 0) < 0)

  let tridiagonalError = #expect(throws: LAPACKError.self) {
    try NDArray<T>.tridiagonalEigen(diagonal: NDArray([1, .nan, 2]), offDiagonal: NDArray([0.5, 0.5]))
  }
  #expect(tridiagonalError?.routine == routine("stevd", T.self))
  #expect((tridiagonalError?.info ?? 0) < 0)
}

private func checkBandFailure<T: BLASScalar & TestTolerance>(_: T.Type) {
  // Tridiagonal [[1, 2, 0], [2, 1, 1], [0, 1, 3]]: the leading minor of order 2 is -3.
  // Band storage (kd = 1, ldab = 3): superdiagonal (·, 2, 1) then diagonal (1, 1, 3).
  var ab: [T] = [0, 2, 1, 1, 1, 3]
  do {
    try ab.withUnsafeMutableBufferPointer { (p: inout UnsafeMutableBufferPointer<T>) throws(LAPACKError) in
      try T.pbtrf(n: 3, kd: 1, ab: p, ldab: 3)
    }
    Issue.record("pbtrf of an indefinite band matrix did not throw")
  } catch {
    #expect(error.routine == routine("pbtrf", T.self))
    #expect(error.info == 2)
    #expect(error.description.contains("info = 2"))
  }
}
