// The finiteness scan that guards every pass (inputs read from files, network outputs,
// product columns). Written on the IEEE bit patterns so that it is branch-free integer
// arithmetic the compiler vectorizes, and non-generic so that it never runs through value
// witnesses: a generic `firstIndex { !$0.isFinite }` from another module costs a
// coroutine call and a heap-allocated frame per element.

/// Elements per block: a block is scanned without branches; only a block holding a NaN or
/// infinity is scanned again for the exact index.
private let finitenessBlock = 1024

/// The index of the first NaN or infinity in `x`, or nil when every element is finite.
/// - Complexity: O(count), vectorized.
func firstNonFiniteFloat(_ x: UnsafeBufferPointer<Float>) -> Int? {
  guard let base = x.baseAddress else { return nil }
  return x.withMemoryRebound(to: UInt32.self) { bits -> Int? in
    let words = bits.baseAddress!
    var start = 0
    while start < x.count {
      let end = Swift.min(start &+ finitenessBlock, x.count)
      // An exponent field of all ones (an infinity or a NaN) plus one unit of the exponent
      // carries into the sign bit; any finite exponent does not. And, add and or only, so
      // the loop vectorizes on the SSE2 baseline.
      var flagged: UInt32 = 0
      let block = words + start
      for i in 0..<(end - start) { flagged |= (block[i] & 0x7F80_0000) &+ 0x0080_0000 }
      if flagged & 0x8000_0000 != 0 {
        for i in start..<end where !base[i].isFinite { return i }
      }
      start = end
    }
    return nil
  }
}

/// The index of the first NaN or infinity in `x`, or nil when every element is finite.
/// - Complexity: O(count), vectorized.
func firstNonFiniteDouble(_ x: UnsafeBufferPointer<Double>) -> Int? {
  guard let base = x.baseAddress else { return nil }
  return x.withMemoryRebound(to: UInt64.self) { bits -> Int? in
    let words = bits.baseAddress!
    var start = 0
    while start < x.count {
      let end = Swift.min(start &+ finitenessBlock, x.count)
      var flagged: UInt64 = 0
      let block = words + start
      for i in 0..<(end - start) { flagged |= (block[i] & 0x7FF0_0000_0000_0000) &+ 0x0010_0000_0000_0000 }
      if flagged & 0x8000_0000_0000_0000 != 0 {
        for i in start..<end where !base[i].isFinite { return i }
      }
      start = end
    }
    return nil
  }
}
