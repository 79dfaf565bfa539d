// Vectorizable single-precision exp and tanh for the elementwise kernels. glibc's expf and
// tanhf are scalar calls (tanhf goes through expm1f) and dominated the MLP gradient; these
// are straight-line float arithmetic that the compiler vectorizes.
//
// exp: Cody-Waite reduction x = n ln2 + r, |r| ≤ ln2/2, then the degree-7 Taylor polynomial
// of e^r (truncation error r⁸/8! < 6e-9 relative), scaled by 2ⁿ through the exponent bits.
// tanh: the rational approximation of Eigen's `generic_fast_tanh_float` (odd degree 13 over
// even degree 6, on inputs clamped to ±7.9053111): at most 6 ulps (3.5e-7 relative) from
// the correctly rounded value on [-12, 12], never above 1 in magnitude; about half the
// operations of the exp-based form it replaced (a series near 0, 1 − 2/(e^{2|x|} + 1)
// elsewhere, both computed for every element), and tanh is the hot function of tanh MLPs
// and of the tanh GELU of GPT-style models (issue 17).

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
  // Branch-free, so the loop vectorizes: the input clamped to ±7.9053111 (beyond it tanh
  // rounds to ±1 in Float), then an odd degree-13 over even degree-6 rational function;
  // below 4e-4 in magnitude, x itself. NaN stays NaN through the clamp.
  let clamped = Swift.max(Swift.min(x, 7.90531110763549805), -7.90531110763549805)
  let x2 = clamped * clamped
  var p: Float = -2.76076847742355e-16
  p = p * x2 + 2.00018790482477e-13
  p = p * x2 - 8.60467152213735e-11
  p = p * x2 + 5.12229709037114e-08
  p = p * x2 + 1.48572235717979e-05
  p = p * x2 + 6.37261928875436e-04
  p = p * x2 + 4.89352455891786e-03
  var q: Float = 1.19825839466702e-06
  q = q * x2 + 1.18534705686654e-04
  q = q * x2 + 2.26843463243900e-03
  q = q * x2 + 4.89352518554385e-03
  let rational = clamped * p / q
  return Swift.abs(x) < 0.0004 ? x : rational
}

@inline(__always)
func fastSigmoid(_ x: Float) -> Float {
  // σ(x) = 1/(1 + e⁻ˣ) for x ≥ 0, e^x/(1 + e^x) otherwise: no overflow either way.
  let e = fastExp(-Swift.abs(x))
  return x >= 0 ? 1 / (1 + e) : e / (1 + e)
}

/// GELU's tanh form with `fastTanh` (`geluTanhValue`, the order of `unaryValue(.geluTanh, _)`
/// and of the Tensor operations it replaced, whose Float tanh was `fastTanh` too: same bits).
@inline(__always)
func fastGELUTanh(_ x: Float) -> Float { geluTanhValue(x, tanh: fastTanh) }

/// The derivative of GELU's tanh form with `fastTanh`, as `unaryValue(.geluTanhDerivative, _)`.
@inline(__always)
func fastGELUTanhDerivative(_ x: Float) -> Float { geluTanhDerivativeValue(x, tanh: fastTanh) }

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
