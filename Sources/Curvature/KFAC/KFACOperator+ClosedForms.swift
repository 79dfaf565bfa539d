import CurvatureNumerics

// Structural queries of KFAC from its factors: no product with the full matrix is needed.

extension KFACOperator {
  /// The trace `Σ_layers tr(B) tr(A)` (+ `tr(B)` per separate bias, + the traces of the
  /// other parameters' blocks).
  /// - Complexity: O(Σ factor sizes) once the factors exist.
  public func trace() throws -> Scalar {
    return try computeFactors().reduce(try otherPart.closedForms().trace) { total, layer in
      let tb = layer.gradientCovariance.trace()
      return total + (layer.inputCovariance.map { tb * $0.trace() } ?? 0) + (layer.biasBlock != nil && !layer.joint ? tb : 0)
    }
  }

  /// The diagonal: `diag(B) ⊗ diag(A)` per weight block, `diag(B)` per bias.
  public func diagonal() throws -> NDArray<Scalar> {
    let factors = try computeFactors()
    let ones = NDArray<Scalar>(repeating: 1, shape: [rowCount, 1])
    var result = applyBlocks(ones, factors: factors) { layer, weight, bias in
      let db = layer.gradientCovariance.diagonal()
      guard let a = layer.inputCovariance else { return (nil, bias.map { _ in db.reshaped([db.count, 1]) }) }
      let da = a.diagonal()
      let inputs = layer.weightShape[1]
      let weightDiagonal = outer(db, NDArray(Array(da.scalars[0..<inputs]))).reshaped([db.count, inputs, 1])
      let biasDiagonal = layer.joint ? db * da.scalars[inputs] : db
      return (weight.map { _ in weightDiagonal }, bias.map { _ in biasDiagonal.reshaped([db.count, 1]) })
    }
    try otherPart.writeDiagonal(into: &result)
    return result.reshaped([rowCount])
  }

  /// The Frobenius norm `√(Σ ‖B‖²‖A‖² + Σ_bias ‖B‖²)`.
  public func frobeniusNorm() throws -> Scalar {
    let squared = try computeFactors().reduce(try otherPart.closedForms().squaredNorm) { total, layer in
      let nb = layer.gradientCovariance.norm()
      return total + (layer.inputCovariance.map { nb * nb * $0.norm() * $0.norm() } ?? 0)
        + (layer.biasBlock != nil && !layer.joint ? nb * nb : 0)
    }
    return squared.squareRoot()
  }

  /// The sign and log-magnitude of the determinant:
  /// `log det(B ⊗ A) = dim(A) log det B + dim(B) log det A` per block.
  /// A singular factor (e.g. fewer data points than inputs) gives sign 0 and −∞.
  public func logDeterminant() throws -> (sign: Scalar, logMagnitude: Scalar) {
    let others = try otherPart.closedForms()
    if others.sign == 0 { return (0, -.infinity) }
    var sign = others.sign, logMagnitude = others.logMagnitude
    for layer in try computeFactors() {
      let (sb, lb) = try layer.gradientCovariance.signAndLogDeterminant()
      if sb == 0 { return (0, -.infinity) }
      let out = layer.weightShape[0]
      if let a = layer.inputCovariance {
        let (sa, la) = try a.signAndLogDeterminant()
        if sa == 0 { return (0, -.infinity) }
        let dimA = a.shape[0]
        sign *= (dimA % 2 == 0 ? 1 : sb) * (out % 2 == 0 ? 1 : sa)
        logMagnitude += Scalar(dimA) * lb + Scalar(out) * la
      }
      if layer.biasBlock != nil && !layer.joint {
        sign *= sb
        logMagnitude += lb
      }
    }
    return (sign, logMagnitude)
  }
}
