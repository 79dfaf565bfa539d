// Elementwise functions, NumPy-style broadcasting, reductions and index gathers of
// `NDArray`, each one call into a kernel specialized for the scalar type.

extension NDArray {
  /// `f` applied to every element.
  /// - Complexity: O(count).
  public func map(_ f: UnaryFunction) -> NDArray {
    withUnsafeBufferPointer { x in
      NDArray(uninitializedShape: shape) { y in Scalar.applyUnary(f, x, y) }
    }
  }

  /// The shape two shapes broadcast to (NumPy rules: align trailing axes; an extent of 1
  /// stretches), or nil when they are incompatible.
  public static func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int]? {
    let rank = Swift.max(a.count, b.count)
    var result = [Int](repeating: 1, count: rank)
    for i in 0..<rank {
      let da = i < rank - a.count ? 1 : a[i - (rank - a.count)]
      let db = i < rank - b.count ? 1 : b[i - (rank - b.count)]
      if da == db || db == 1 {
        result[i] = da
      } else if da == 1 {
        result[i] = db
      } else {
        return nil
      }
    }
    return result
  }

  /// Strides that read `self` as if broadcast to `shape` (0 on stretched axes).
  func broadcastStrides(to target: [Int]) -> [Int] {
    NDArray.broadcastStrides(of: shape, to: target)
  }

  /// Strides that read a row-major array of `shape` as if broadcast to `target`.
  static func broadcastStrides(of shape: [Int], to target: [Int]) -> [Int] {
    let rank = shape.count
    precondition(target.count >= rank, "broadcast: cannot broadcast \(shape) to \(target)")
    var strides = [Int](repeating: 0, count: target.count)
    var s = 1
    for axis in stride(from: rank - 1, through: 0, by: -1) {
      let t = axis + target.count - rank
      precondition(shape[axis] == target[t] || shape[axis] == 1, "broadcast: cannot broadcast \(shape) to \(target)")
      strides[t] = shape[axis] == 1 ? 0 : s
      s *= shape[axis]
    }
    return strides
  }

  /// `f(a, b)` elementwise with broadcasting.
  /// - Complexity: O(count of the broadcast shape).
  public static func binary(_ f: BinaryFunction, _ a: NDArray, _ b: NDArray) -> NDArray {
    guard let shape = broadcastShape(a.shape, b.shape) else {
      preconditionFailure("\(f): shapes \(a.shape) and \(b.shape) do not broadcast")
    }
    let sa = a.broadcastStrides(to: shape), sb = b.broadcastStrides(to: shape)
    return a.withUnsafeBufferPointer { pa in
      b.withUnsafeBufferPointer { pb in
        NDArray(uninitializedShape: shape) { po in
          Scalar.applyBinary(f, pa, strides: sa, pb, strides: sb, po, shape: shape)
        }
      }
    }
  }

  /// `self` repeated along stretched axes to `shape` (broadcasting rules).
  public func broadcast(to target: [Int]) -> NDArray {
    if target == shape { return self }
    let strides = broadcastStrides(to: target)
    // The gather writes every element: no zero fill first.
    var result = NDArray(uninitializedShape: target) { _ in }
    withUnsafeBufferPointer { src in
      result.withUnsafeMutableBufferPointer { dst in
        let from = UnsafeRawBufferPointer(src), to = UnsafeMutableRawBufferPointer(dst)
        if MemoryLayout<Scalar>.size == 4 {
          stridedGather(from.bindMemory(to: UInt32.self), to.bindMemory(to: UInt32.self), target, strides)
        } else {
          stridedGather(from.bindMemory(to: UInt64.self), to.bindMemory(to: UInt64.self), target, strides)
        }
      }
    }
    return result
  }

  /// Reduces over `axes` (negative axes count from the end).
  /// - Parameters:
  ///   - f: `.sum` or `.max`.
  ///   - axes: The axes to reduce; all axes when empty is not what you want, pass them.
  ///   - keepingDimensions: Keep reduced axes with extent 1.
  /// - Complexity: O(count).
  public func reduced(_ f: ReductionFunction, axes: [Int], keepingDimensions: Bool = false) -> NDArray {
    var flags = [Bool](repeating: false, count: rank)
    for axis in axes {
      let a = axis < 0 ? axis + rank : axis
      precondition(a >= 0 && a < rank, "reduce: axis \(axis) out of range for shape \(shape)")
      flags[a] = true
    }
    let kept = shape.enumerated().map { flags[$0.offset] ? 1 : $0.element }
    var result = NDArray(zeros: kept)
    withUnsafeBufferPointer { x in
      result.withUnsafeMutableBufferPointer { out in
        Scalar.reduce(f, x, shape: shape, reducedAxes: flags, out)
      }
    }
    if keepingDimensions { return result }
    return result.reshaped(shape.enumerated().filter { !flags[$0.offset] }.map { $0.element })
  }

  /// The sum of a broadcast result back down to `target` (the adjoint of `broadcast`).
  public func summed(toShape target: [Int]) -> NDArray {
    if target == shape { return self }
    precondition(target.count <= rank, "sum to shape: \(shape) cannot reduce to \(target)")
    let lead = rank - target.count
    var axes = Array(0..<lead)
    for (i, extent) in target.enumerated() where extent == 1 && shape[lead + i] != 1 {
      axes.append(lead + i)
    }
    for (i, extent) in target.enumerated() {
      precondition(extent == shape[lead + i] || extent == 1, "sum to shape: \(shape) cannot reduce to \(target)")
    }
    return reduced(.sum, axes: axes).reshaped(target)
  }

  /// A new array of `shape` with `result[i] = self[indices[i]]` (flat indices, -1 gives 0).
  public func gathered(_ indices: [Int], shape target: [Int]) -> NDArray {
    precondition(indices.count == NDArray.elementCount(target), "gather: \(indices.count) indices for shape \(target)")
    var result = NDArray(zeros: target)
    withUnsafeBufferPointer { src in
      indices.withUnsafeBufferPointer { idx in
        result.withUnsafeMutableBufferPointer { dst in Scalar.gather(src, indices: idx, dst) }
      }
    }
    return result
  }

  /// A new array of `shape` with `result[indices[i]] += self[i]` (the adjoint of `gathered`).
  public func scatteredAdd(_ indices: [Int], shape target: [Int]) -> NDArray {
    precondition(indices.count == count, "scatterAdd: \(indices.count) indices for \(count) elements")
    var result = NDArray(zeros: target)
    withUnsafeBufferPointer { src in
      indices.withUnsafeBufferPointer { idx in
        result.withUnsafeMutableBufferPointer { dst in Scalar.scatterAdd(src, indices: idx, dst) }
      }
    }
    return result
  }
}
