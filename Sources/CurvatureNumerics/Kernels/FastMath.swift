// Vectorizable single-precision exp and tanh for the elementwise kernels. glibc's expf and
// tanhf are scalar calls (tanhf goes through expm1f) and dominated the MLP gradient; these
// are straight-line float arithmetic that the compiler vectorizes.
//
// exp: Cody-Waite reduction x = n ln2 + r, |r| ≤ ln2/2, then the degree-7 Taylor polynomial
// of e^r (truncation error r⁸/8! < 6e-9 relative), scaled by 2ⁿ through the exponent bits.
// tanh: the odd Taylor series to x¹³ for |x| < 0.3 (error < 1e-9 relative), else
// sign(x)(1 − 2/(e^{2|x|} + 1)), which has no cancellation there. Both are within a few ulps.

@inline(__always)
func fastExp(_ x: Float) -> Float {
  // Beyond these bounds the result over- or underflows; clamping keeps the bit trick valid.
  let clamped = Swift.min(Swift.max(x, -87.33654), 88.72283)
  // Round x·log₂e to the nearest integer without a libm call (the SSE2 baseline has no
  // rounding instruction): adding 1.5·2²³ leaves the integer in the low mantissa bits.
  let shifted = clamped * 1.442695041 + 12_582_912
  let n = shifted - 12_582_912
  let integer = Int32(bitPattern: shifted.bitPattern) &- 0x4B40_0000
  let r = (clamped - n * 0.693145751953125) - n * 1.428606765330187e-06
  var p: Float = 1.0 / 5040
  p = p * r + 1.0 / 720
  p = p * r + 1.0 / 120
  p = p * r + 1.0 / 24
  p = p * r + 1.0 / 6
  p = p * r + 0.5
  p = p * r + 1
  p = p * r + 1
  // 2ⁿ for n in [-126, 128] as two exponent-field factors, so n = 128 stays finite.
  let half = integer >> 1
  let scale1 = Float(bitPattern: UInt32(bitPattern: (half &+ 127) << 23))
  let scale2 = Float(bitPattern: UInt32(bitPattern: (integer &- half &+ 127) << 23))
  let result = p * scale1 * scale2
  return x < -87.33654 ? 0 : (x > 88.72283 ? .infinity : result)
}

@inline(__always)
func fastTanh(_ x: Float) -> Float {
  // Both branches are computed and one selected, so the loop stays branch-free and vectorizes.
  let a = Swift.abs(x)
  let x2 = x * x
  var p: Float = 21844.0 / 6081075
  p = p * x2 - 1382.0 / 155925
  p = p * x2 + 62.0 / 2835
  p = p * x2 - 17.0 / 315
  p = p * x2 + 2.0 / 15
  p = p * x2 - 1.0 / 3
  let series = x + x * x2 * p
  let large = 1 - 2 / (fastExp(2 * a) + 1)
  let signed = x < 0 ? -large : large
  return a < 0.3 ? series : signed
}

@inline(__always)
func fastSigmoid(_ x: Float) -> Float {
  // σ(x) = 1/(1 + e⁻ˣ) for x ≥ 0, e^x/(1 + e^x) otherwise: no overflow either way.
  let e = fastExp(-Swift.abs(x))
  return x >= 0 ? 1 / (1 + e) : e / (1 + e)
}

/// GELU's tanh form with `fastTanh`, in the order of `unaryValue(.geluTanh, _)` (and of the
/// Tensor operations it replaced, whose Float tanh was `fastTanh` too: same bits).
@inline(__always)
func fastGELUTanh(_ x: Float) -> Float {
  let inner = (x + x * (x * x) * Float(0.044715)) * (2 / Float.pi).squareRoot()
  return x * 0.5 * (fastTanh(inner) + 1)
}

/// The derivative of GELU's tanh form with `fastTanh`, as `unaryValue(.geluTanhDerivative, _)`.
@inline(__always)
func fastGELUTanhDerivative(_ x: Float) -> Float {
  let a = (2 / Float.pi).squareRoot(), b = Float(0.044715)
  let x2 = x * x
  let t = fastTanh((x + x * x2 * b) * a)
  return (1 + t) / 2 + x * (1 - t * t) * (a / 2) * (1 + 3 * b * x2)
}

/// Float kernels for the functions with a fast path; false when `f` has none.
@inline(__always)
func fastUnaryKernel(_ f: UnaryFunction, _ x: UnsafeBufferPointer<Float>, _ y: UnsafeMutableBufferPointer<Float>) -> Bool {
  switch f {
  case .exp: for i in x.indices { y[i] = fastExp(x[i]) }
  case .tanh: for i in x.indices { y[i] = fastTanh(x[i]) }
  case .sigmoid: for i in x.indices { y[i] = fastSigmoid(x[i]) }
  case .geluTanh: for i in x.indices { y[i] = fastGELUTanh(x[i]) }
  case .geluTanhDerivative: for i in x.indices { y[i] = fastGELUTanhDerivative(x[i]) }
  default: return false
  }
  return true
}
