// Kernel bodies, written once and generic. They are called only from the Float and Double
// conformances of `BLASScalar`, where they are specialized, so loops run on concrete types
// even when the calling code is generic.
import RealModule

@inlinable @inline(__always)
package func unaryValue<T: BLASScalar>(_ f: UnaryFunction, _ x: T) -> T {
  switch f {
  case .negate: return -x
  case .exp: return T.exp(x)
  case .log: return T.log(x)
  case .tanh: return T.tanh(x)
  case .sigmoid:
    if x >= 0 { return 1 / (1 + T.exp(-x)) }
    let e = T.exp(x)
    return e / (1 + e)
  case .relu: return x > 0 ? x : 0
  case .step: return x > 0 ? 1 : 0
  case .softplus: return (x > 0 ? x : 0) + T.log(onePlus: T.exp(-Swift.abs(x)))
  case .sqrt: return x.squareRoot()
  case .square: return x * x
  case .reciprocal: return 1 / x
  case .normalCDF: return (1 + T.erf(x / T(2).squareRoot())) / 2
  case .abs: return Swift.abs(x)
  case .gelu: return x * unaryValue(.normalCDF, x)
  case .geluTanh: return geluTanhValue(x, tanh: T.tanh)
  case .geluDerivative:
    return unaryValue(.normalCDF, x) + x * (T.exp(-x * x / 2) / T.sqrt(2 * T.pi))
  case .geluTanhDerivative: return geluTanhDerivativeValue(x, tanh: T.tanh)
  }
}

/// GELU's tanh form `x/2 · (1 + tanh(a (x + b x³)))`, `a = √(2/π)`, `b = 0.044715`, with the
/// given tanh (`T.tanh`, or `fastTanh` in the Float kernels). In the order of the Tensor
/// operations it replaced (x + x·x²·b, times a, …), so values kept their bits.
@inlinable @inline(__always)
package func geluTanhValue<T: BLASScalar>(_ x: T, tanh: (T) -> T) -> T {
  let inner = (x + x * (x * x) * T(0.044715)) * T.sqrt(2 / T.pi)
  return x * T(0.5) * (tanh(inner) + 1)
}

/// The derivative of `geluTanhValue` with the given tanh:
/// `(1 + t)/2 + x (1 − t²) a (1 + 3b x²)/2`, `t = tanh(a (x + b x³))`.
@inlinable @inline(__always)
package func geluTanhDerivativeValue<T: BLASScalar>(_ x: T, tanh: (T) -> T) -> T {
  let a = T.sqrt(2 / T.pi), b = T(0.044715)
  let x2 = x * x
  let t = tanh((x + x * x2 * b) * a)
  return (1 + t) / 2 + x * (1 - t * t) * (a / 2) * (1 + 3 * b * x2)
}

func unaryKernel<T: BLASScalar>(
  _ f: UnaryFunction, _ x: UnsafeBufferPointer<T>, _ y: UnsafeMutableBufferPointer<T>
) {
  precondition(y.count >= x.count, "applyUnary: output holds \(y.count) of \(x.count) elements")
  if T.self == Float.self {
    // Constant-folded in the Float specialization.
    let done = x.withMemoryRebound(to: Float.self) { fx in
      y.withMemoryRebound(to: Float.self) { fy in fastUnaryKernel(f, fx, fy) }
    }
    if done { return }
  }
  // One loop per function, so the switch is outside the loop.
  switch f {
  case .negate: for i in x.indices { y[i] = -x[i] }
  case .square: for i in x.indices { y[i] = x[i] * x[i] }
  case .relu: for i in x.indices { y[i] = x[i] > 0 ? x[i] : 0 }
  case .step: for i in x.indices { y[i] = x[i] > 0 ? 1 : 0 }
  case .exp: for i in x.indices { y[i] = T.exp(x[i]) }
  case .log: for i in x.indices { y[i] = T.log(x[i]) }
  case .tanh: for i in x.indices { y[i] = T.tanh(x[i]) }
  case .sigmoid: for i in x.indices { y[i] = unaryValue(.sigmoid, x[i]) }
  case .softplus: for i in x.indices { y[i] = unaryValue(.softplus, x[i]) }
  case .sqrt: for i in x.indices { y[i] = x[i].squareRoot() }
  case .reciprocal: for i in x.indices { y[i] = 1 / x[i] }
  case .normalCDF: for i in x.indices { y[i] = unaryValue(.normalCDF, x[i]) }
  case .abs: for i in x.indices { y[i] = Swift.abs(x[i]) }
  case .gelu: for i in x.indices { y[i] = unaryValue(.gelu, x[i]) }
  case .geluTanh: for i in x.indices { y[i] = unaryValue(.geluTanh, x[i]) }
  case .geluDerivative: for i in x.indices { y[i] = unaryValue(.geluDerivative, x[i]) }
  case .geluTanhDerivative: for i in x.indices { y[i] = unaryValue(.geluTanhDerivative, x[i]) }
  }
}

@inline(__always)
func binaryValue<T: BLASScalar>(_ f: BinaryFunction, _ a: T, _ b: T) -> T {
  switch f {
  case .add: return a + b
  case .subtract: return a - b
  case .multiply: return a * b
  case .divide: return a / b
  // NaN propagates, as in PyTorch's maximum/minimum.
  case .maximum: return a.isNaN || b.isNaN ? .nan : (a >= b ? a : b)
  case .minimum: return a.isNaN || b.isNaN ? .nan : (a <= b ? a : b)
  }
}

/// `out[i] = f(a[i·sa], b[i·sb])` over a row-major `shape`, where `aStrides`/`bStrides`
/// give each operand's stride per output axis (0 for a broadcast axis).
func binaryKernel<T: BLASScalar>(
  _ f: BinaryFunction, _ a: UnsafeBufferPointer<T>, _ aStrides: [Int],
  _ b: UnsafeBufferPointer<T>, _ bStrides: [Int], _ out: UnsafeMutableBufferPointer<T>,
  _ shape: [Int]
) {
  let count = shape.reduce(1, *)
  precondition(out.count >= count, "applyBinary: output holds \(out.count) of \(count) elements")
  guard count > 0 else { return }
  if shape.isEmpty {
    out[0] = binaryValue(f, a[0], b[0])
    return
  }
  // Rows as long as the strides allow: a same-shape product of contiguous arrays is one
  // row, `[N, T, C] + [C]` is N·T rows of C (the same elements in the same order).
  let (shape, aStrides, bStrides) = mergedAxes(shape, aStrides, bStrides)
  let rank = shape.count
  let inner = shape[rank - 1]
  let sa = aStrides[rank - 1], sb = bStrides[rank - 1]
  var index = [Int](repeating: 0, count: rank)
  var offsetA = 0, offsetB = 0, written = 0
  while written < count {
    // Inner loops specialized on the common stride patterns; the switch is per row.
    switch f {
    case .add: binaryRow(a, offsetA, sa, b, offsetB, sb, out, written, inner) { $0 + $1 }
    case .subtract: binaryRow(a, offsetA, sa, b, offsetB, sb, out, written, inner) { $0 - $1 }
    case .multiply: binaryRow(a, offsetA, sa, b, offsetB, sb, out, written, inner) { $0 * $1 }
    case .divide: binaryRow(a, offsetA, sa, b, offsetB, sb, out, written, inner) { $0 / $1 }
    case .maximum: binaryRow(a, offsetA, sa, b, offsetB, sb, out, written, inner) { binaryValue(.maximum, $0, $1) }
    case .minimum: binaryRow(a, offsetA, sa, b, offsetB, sb, out, written, inner) { binaryValue(.minimum, $0, $1) }
    }
    written += inner
    var axis = rank - 2
    while axis >= 0 {
      index[axis] += 1
      offsetA += aStrides[axis]
      offsetB += bStrides[axis]
      if index[axis] < shape[axis] { break }
      offsetA -= aStrides[axis] * shape[axis]
      offsetB -= bStrides[axis] * shape[axis]
      index[axis] = 0
      axis -= 1
    }
  }
}

/// `shape` with neighbouring axes joined wherever both operands step through them as
/// through one axis (`stride[i] == stride[i + 1] · shape[i + 1]`, true of contiguous and of
/// broadcast axes alike), and axes of extent 1 dropped; at least one axis is kept.
package func mergedAxes(_ shape: [Int], _ aStrides: [Int], _ bStrides: [Int]) -> ([Int], [Int], [Int]) {
  var extents = [Int](), sa = [Int](), sb = [Int]()
  extents.reserveCapacity(shape.count)
  for axis in shape.indices where shape[axis] != 1 {
    if let last = extents.last,
       sa[sa.count - 1] == aStrides[axis] * shape[axis],
       sb[sb.count - 1] == bStrides[axis] * shape[axis] {
      extents[extents.count - 1] = last * shape[axis]
      sa[sa.count - 1] = aStrides[axis]
      sb[sb.count - 1] = bStrides[axis]
    } else {
      extents.append(shape[axis])
      sa.append(aStrides[axis])
      sb.append(bStrides[axis])
    }
  }
  if extents.isEmpty { return ([1], [0], [0]) }
  return (extents, sa, sb)
}

@inline(__always)
func binaryRow<T>(
  _ a: UnsafeBufferPointer<T>, _ oa: Int, _ sa: Int, _ b: UnsafeBufferPointer<T>, _ ob: Int,
  _ sb: Int, _ out: UnsafeMutableBufferPointer<T>, _ oo: Int, _ n: Int, _ op: (T, T) -> T
) {
  let pa = a.baseAddress! + oa, pb = b.baseAddress! + ob, po = out.baseAddress! + oo
  if sa == 1 && sb == 1 {
    for j in 0..<n { po[j] = op(pa[j], pb[j]) }
  } else if sa == 1 && sb == 0 {
    let v = pb[0]
    for j in 0..<n { po[j] = op(pa[j], v) }
  } else if sa == 0 && sb == 1 {
    let v = pa[0]
    for j in 0..<n { po[j] = op(v, pb[j]) }
  } else {
    for j in 0..<n { po[j] = op(pa[j * sa], pb[j * sb]) }
  }
}

/// Reduces a row-major array of `shape` over the axes where `reduced` is true; the output
/// is row-major over the kept axes. Sums accumulate in the scalar type, row by row.
func reduceKernel<T: BLASScalar>(
  _ f: ReductionFunction, _ x: UnsafeBufferPointer<T>, _ shape: [Int], _ reduced: [Bool],
  _ out: UnsafeMutableBufferPointer<T>
) {
  let outCount = zip(shape, reduced).reduce(1) { $0 * ($1.1 ? 1 : $1.0) }
  precondition(out.count >= outCount, "reduce: output holds \(out.count) of \(outCount) elements")
  let initial: T = f == .sum ? 0 : -T.infinity
  for i in 0..<outCount { out[i] = initial }
  let count = shape.reduce(1, *)
  guard count > 0 else { return }
  if shape.isEmpty {
    out[0] = x[0]
    return
  }
  // Neighbouring axes reduced alike act as one axis, and axes of extent 1 as none: the
  // rows get longer (a weight gradient's `[N, Cout, K]` summed over N is one row of
  // Cout·K per sample) while every output still receives its inputs in the same order.
  var axes = [(extent: Int, reduced: Bool)]()
  for (extent, isReduced) in zip(shape, reduced) where extent != 1 {
    if let last = axes.last, last.reduced == isReduced {
      axes[axes.count - 1].extent *= extent
    } else {
      axes.append((extent, isReduced))
    }
  }
  if axes.isEmpty { axes = [(1, false)] }
  let extents = axes.map(\.extent), reducedAxes = axes.map(\.reduced)
  let rank = extents.count
  // Output stride of each input axis (0 on reduced axes).
  var outStrides = [Int](repeating: 0, count: rank)
  var s = 1
  for axis in stride(from: rank - 1, through: 0, by: -1) where !reducedAxes[axis] {
    outStrides[axis] = s
    s *= extents[axis]
  }
  let inner = extents[rank - 1], innerStride = outStrides[rank - 1]
  var index = [Int](repeating: 0, count: rank)
  var offset = 0, read = 0
  let px = x.baseAddress!, po = out.baseAddress!
  // With the last axis reduced, the axis before it is kept with output stride 1: the next
  // rows feed the next outputs, so four rows are summed side by side (four independent
  // chains instead of one add after another; each output's order is unchanged).
  let sideBySide = innerStride == 0 && f == .sum && rank >= 2 ? extents[rank - 2] : 0
  while read < count {
    let row = px + read
    if sideBySide > 0 && sideBySide - index[rank - 2] >= 4 {
      sumRows(row, inner, into: po + offset)
      // Past the first three rows here; the step below moves past the fourth.
      read += 3 * inner
      index[rank - 2] += 3
      offset += 3
    } else if innerStride == 0 {
      // The last axis is reduced: fold the row into one output entry.
      var acc = po[offset]
      if f == .sum {
        for j in 0..<inner { acc += row[j] }
      } else {
        for j in 0..<inner where row[j] > acc || row[j].isNaN { acc = row[j] }
      }
      po[offset] = acc
    } else {
      let target = po + offset
      if f == .sum {
        for j in 0..<inner { target[j] += row[j] }
      } else {
        for j in 0..<inner where row[j] > target[j] || row[j].isNaN { target[j] = row[j] }
      }
    }
    read += inner
    var axis = rank - 2
    while axis >= 0 {
      index[axis] += 1
      offset += outStrides[axis]
      if index[axis] < extents[axis] { break }
      offset -= outStrides[axis] * extents[axis]
      index[axis] = 0
      axis -= 1
    }
  }
}

/// Adds the four consecutive rows of `inner` elements at `rows` to `out[0..<4]`, each row
/// in order (the bits of four separate sums).
@inline(__always)
private func sumRows<T: BLASScalar>(_ rows: UnsafePointer<T>, _ inner: Int, into out: UnsafeMutablePointer<T>) {
  let (r1, r2, r3) = (rows + inner, rows + 2 * inner, rows + 3 * inner)
  var (a0, a1, a2, a3) = (out[0], out[1], out[2], out[3])
  for j in 0..<inner {
    a0 += rows[j]
    a1 += r1[j]
    a2 += r2[j]
    a3 += r3[j]
  }
  (out[0], out[1], out[2], out[3]) = (a0, a1, a2, a3)
}

/// `destination[i] = source[indices[i]]`, or 0 where `indices[i] < 0` (padding).
func gatherKernel<T: BLASScalar>(
  _ source: UnsafeBufferPointer<T>, _ indices: UnsafeBufferPointer<Int>,
  _ destination: UnsafeMutableBufferPointer<T>
) {
  precondition(destination.count >= indices.count, "gather: output too small")
  let n = source.count
  for i in indices.indices {
    let j = indices[i]
    precondition(j < n, "gather: index \(j) out of range for \(n) elements")
    destination[i] = j >= 0 ? source[j] : 0
  }
}

/// `destination[indices[i]] += source[i]`, skipping negative indices.
func scatterAddKernel<T: BLASScalar>(
  _ source: UnsafeBufferPointer<T>, _ indices: UnsafeBufferPointer<Int>,
  _ destination: UnsafeMutableBufferPointer<T>
) {
  precondition(source.count >= indices.count, "scatterAdd: source too small")
  let n = destination.count
  for i in indices.indices {
    let j = indices[i]
    precondition(j < n, "scatterAdd: index \(j) out of range for \(n) elements")
    if j >= 0 { destination[j] += source[i] }
  }
}
