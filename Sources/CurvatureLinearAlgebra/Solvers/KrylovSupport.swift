import CurvatureNumerics

// Row-wise BLAS level-1 helpers shared by the Krylov solvers and estimators. Their working
// vectors live as the rows of row-major `[count, n]` arrays, so every vector operation is
// one contiguous BLAS call, and a block of them is handed to an operator as one
// `[n, count]` product after a transpose (omatcopy).

extension NDArray {
  /// `self[i, :] += alpha · self[j, :]` for rows of one array.
  mutating func addRow(_ i: Int, fromRow j: Int, scaledBy alpha: Scalar) {
    let n = shape[1]
    withUnsafeMutableBufferPointer { p in
      let x = UnsafeBufferPointer(rebasing: p[(j * n)..<(j * n + n)])
      Scalar.axpy(count: n, alpha: alpha, x: x, strideX: 1, y: UnsafeMutableBufferPointer(rebasing: p[(i * n)...]), strideY: 1)
    }
  }

  /// `self[i, :] += alpha · other[j, :]`.
  mutating func addRow(_ i: Int, _ other: NDArray, row j: Int, scaledBy alpha: Scalar) {
    let n = shape[1]
    other.withUnsafeBufferPointer { x in
      withUnsafeMutableBufferPointer { y in
        Scalar.axpy(
          count: n, alpha: alpha, x: UnsafeBufferPointer(rebasing: x[(j * n)...]), strideX: 1,
          y: UnsafeMutableBufferPointer(rebasing: y[(i * n)...]), strideY: 1)
      }
    }
  }

  /// `self[i, :] = other[j, :]`.
  mutating func copyRow(_ i: Int, from other: NDArray, row j: Int) {
    let n = shape[1]
    other.withUnsafeBufferPointer { x in
      withUnsafeMutableBufferPointer { y in
        // One memcpy: an element loop in this generic code ran through value witnesses
        // (3% of a Lanczos run on the MLP Hessian).
        copyScalars(from: x.baseAddress! + j * n, to: y.baseAddress! + i * n, count: n)
      }
    }
  }

  /// `self[i, :] ← alpha · self[i, :]`.
  mutating func scaleRow(_ i: Int, by alpha: Scalar) {
    let n = shape[1]
    withUnsafeMutableBufferPointer { p in
      Scalar.scal(count: n, alpha: alpha, x: UnsafeMutableBufferPointer(rebasing: p[(i * n)...]), stride: 1)
    }
  }

  /// `self[i, :] · other[j, :]`.
  func dotRow(_ i: Int, _ other: NDArray, row j: Int) -> Scalar {
    let n = shape[1]
    return withUnsafeBufferPointer { x in
      other.withUnsafeBufferPointer { y in
        Scalar.dot(
          count: n, x: UnsafeBufferPointer(rebasing: x[(i * n)...]), strideX: 1,
          y: UnsafeBufferPointer(rebasing: y[(j * n)...]), strideY: 1)
      }
    }
  }

  /// `‖self[i, :]‖₂`.
  func normOfRow(_ i: Int) -> Scalar {
    let n = shape[1]
    return withUnsafeBufferPointer { x in
      Scalar.nrm2(count: n, x: UnsafeBufferPointer(rebasing: x[(i * n)...]), stride: 1)
    }
  }

  /// The listed rows, as `[rows.count, n]`.
  func selectingRows(_ rows: [Int]) -> NDArray {
    let n = shape[1]
    if rows.count == shape[0] && rows.enumerated().allSatisfy({ $0.offset == $0.element }) { return self }
    guard rows.count * n > 0 else { return NDArray(zeros: [rows.count, n]) }
    // Every row is written: no zero fill first.
    return withUnsafeBufferPointer { x in
      NDArray(uninitializedShape: [rows.count, n]) { y in
        for (slot, r) in rows.enumerated() { copyScalars(from: x.baseAddress! + r * n, to: y.baseAddress! + slot * n, count: n) }
      }
    }
  }

  /// The first `count` rows, as `[count, n]`.
  func leadingRows(_ count: Int) -> NDArray {
    if count == shape[0] { return self }
    return NDArray(shape: [count, shape[1]], scalars: Array(scalars[0..<(count * shape[1])]))
  }
}

/// `count` scalars from `source` to `destination` (not overlapping) as raw bytes.
private func copyScalars<T: BLASScalar>(from source: UnsafePointer<T>, to destination: UnsafeMutablePointer<T>, count: Int) {
  guard count > 0 else { return }
  UnsafeMutableRawPointer(destination).copyMemory(from: source, byteCount: count * MemoryLayout<T>.stride)
}

extension LinearOperator {
  /// `A` applied to each row of `rows` (`[count, n]`), the results as rows: one batched
  /// product through transposes.
  func applyToRows(_ rows: NDArray<Scalar>) throws -> NDArray<Scalar> {
    try apply(rows.transposed()).transposed()
  }
}

/// Orthogonalizes `w` against the first `count` rows of `basis` (`[capacity, n]`, rows
/// orthonormal) by classical Gram-Schmidt applied twice (two gemv pairs per pass), which
/// keeps `w` orthogonal to working precision ("twice is enough").
/// - Returns: The projection coefficients `basisᵀ w` summed over both passes, in Double.
@discardableResult
func orthogonalize<T: BLASScalar>(_ w: inout NDArray<T>, against basis: NDArray<T>, count: Int) -> [Double] {
  guard count > 0 else { return [] }
  let n = w.count
  var total = [Double](repeating: 0, count: count)
  var h = [T](repeating: 0, count: count)
  for _ in 0..<2 {
    basis.withUnsafeBufferPointer { v in
      w.withUnsafeBufferPointer { x in
        h.withUnsafeMutableBufferPointer { y in
          T.gemv(transpose: .none, m: count, n: n, alpha: 1, a: v, lda: n, x: x, strideX: 1, beta: 0, y: y, strideY: 1)
        }
      }
      h.withUnsafeBufferPointer { x in
        w.withUnsafeMutableBufferPointer { y in
          T.gemv(transpose: .transpose, m: count, n: n, alpha: -1, a: v, lda: n, x: x, strideX: 1, beta: 1, y: y, strideY: 1)
        }
      }
    }
    for i in 0..<count { total[i] += Double(h[i]) }
  }
  return total
}

/// Mean and standard error `s/√m` of samples (the error is nil for fewer than two).
func meanAndStandardError(_ samples: [Double]) -> (mean: Double, standardError: Double?) {
  let m = samples.count
  guard m > 0 else { return (0, nil) }
  let mean = samples.reduce(0, +) / Double(m)
  guard m > 1 else { return (mean, nil) }
  let variance = samples.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(m - 1)
  return (mean, (variance / Double(m)).squareRoot())
}
