import CurvatureNumerics

// Slicing along an axis, its adjoint (zero padding along the axis), and concatenation. All
// are linear: slicing and padding are each other's pullbacks, a concatenation's pullback
// slices the cotangent, and each differential is the operation itself. Values are copied
// as contiguous blocks: for an axis with `outer` leading and `inner` trailing elements,
// each of the `outer` rows moves one block of `extent · inner` scalars.

extension Tensor {
  /// The entries whose index along `axis` lies in `range` (PyTorch's `narrow`, NumPy's
  /// `x[..., lo:hi, ...]`).
  ///
  /// - Parameters:
  ///   - axis: The axis to slice (negative counts from the end).
  ///   - range: Indices along `axis`, within `0...shape[axis]`.
  /// - Returns: A tensor with extent `range.count` along `axis`; its pullback pads the
  ///   cotangent with zeros back to the full extent.
  /// - Complexity: O(count of the result), one block copy per leading index.
  public func sliced(alongAxis axis: Int, _ range: Range<Int>) -> Tensor {
    let a = normalizedAxis(axis, function: "sliced(alongAxis:_:)")
    let extent = shape[a]
    precondition(
      range.lowerBound >= 0 && range.upperBound <= extent,
      "sliced(alongAxis:_:): range \(range) out of bounds for axis \(axis) of extent \(extent) in shape \(shape)")
    if range.count == extent { return self }
    var target = shape
    target[a] = range.count
    let (outer, inner) = outerAndInner(a)
    var result = NDArray<Scalar>(zeros: target)
    BlockCopy.copy(
      value, rowLength: extent * inner, offset: range.lowerBound * inner, into: &result,
      rowLength: range.count * inner, offset: 0, blockLength: range.count * inner, rows: outer)
    let (before, after) = (range.lowerBound, extent - range.upperBound)
    return Tensor.primitive(
      result, inputs: [self],
      pullback: { g, _ in [g.padded(alongAxis: a, before: before, after: after)] },
      differential: { t in t[0]?.sliced(alongAxis: a, range) })
  }

  /// The tensor with `before` zeros ahead of and `after` zeros behind its entries along
  /// `axis` (constant zero padding, PyTorch's `F.pad` on one axis): the adjoint of slicing.
  ///
  /// - Parameters:
  ///   - axis: The axis to pad (negative counts from the end).
  ///   - before: Zeros inserted ahead of index 0, ≥ 0.
  ///   - after: Zeros appended after the last index, ≥ 0.
  /// - Returns: A tensor with extent `before + shape[axis] + after` along `axis`; its
  ///   pullback slices the cotangent back.
  /// - Complexity: O(count of the result).
  public func padded(alongAxis axis: Int, before: Int, after: Int) -> Tensor {
    let a = normalizedAxis(axis, function: "padded(alongAxis:before:after:)")
    precondition(
      before >= 0 && after >= 0,
      "padded(alongAxis:before:after:): negative padding (\(before), \(after)) for axis \(axis) of shape \(shape)")
    if before == 0 && after == 0 { return self }
    let extent = shape[a]
    let full = before + extent + after
    var target = shape
    target[a] = full
    let (outer, inner) = outerAndInner(a)
    var result = NDArray<Scalar>(zeros: target)
    BlockCopy.copy(
      value, rowLength: extent * inner, offset: 0, into: &result,
      rowLength: full * inner, offset: before * inner, blockLength: extent * inner, rows: outer)
    let range = before..<(before + extent)
    return Tensor.primitive(
      result, inputs: [self],
      pullback: { g, _ in [g.sliced(alongAxis: a, range)] },
      differential: { t in t[0]?.padded(alongAxis: a, before: before, after: after) })
  }

  /// The tensors joined along `axis` (PyTorch's `torch.cat`).
  ///
  /// - Parameters:
  ///   - tensors: At least one tensor; all have the same rank and the same extents on
  ///     every axis except `axis`.
  ///   - axis: The axis to join along (negative counts from the end).
  /// - Returns: A tensor whose extent along `axis` is the sum of the inputs'; its pullback
  ///   slices the cotangent into one piece per input.
  /// - Complexity: O(count of the result), one block copy per input and leading index.
  public static func concatenate(_ tensors: [Tensor], alongAxis axis: Int) -> Tensor {
    precondition(!tensors.isEmpty, "concatenate(_:alongAxis:): no tensors to concatenate")
    let first = tensors[0]
    let a = first.normalizedAxis(axis, function: "concatenate(_:alongAxis:)")
    for (k, t) in tensors.enumerated() {
      var expected = first.shape, actual = t.shape
      if actual.count == expected.count {
        expected[a] = 0
        actual[a] = 0
      }
      precondition(
        actual == expected,
        "concatenate(_:alongAxis:): tensor \(k) of shape \(t.shape) does not match shape \(first.shape) off axis \(axis)")
    }
    if tensors.count == 1 { return first }
    let extents = tensors.map { $0.shape[a] }
    let total = extents.reduce(0, +)
    var target = first.shape
    target[a] = total
    let (outer, inner) = first.outerAndInner(a)
    var result = NDArray<Scalar>(zeros: target)
    var starts = [Int]()
    var offset = 0
    for (t, extent) in zip(tensors, extents) {
      BlockCopy.copy(
        t.value, rowLength: extent * inner, offset: 0, into: &result,
        rowLength: total * inner, offset: offset * inner, blockLength: extent * inner, rows: outer)
      starts.append(offset)
      offset += extent
    }
    let offsets = starts
    let shapes = tensors.map { $0.shape }
    return primitive(
      result, inputs: tensors,
      pullback: { g, needed in
        (0..<extents.count).map { k in
          needed[k] ? g.sliced(alongAxis: a, offsets[k]..<(offsets[k] + extents[k])) : nil
        }
      },
      differential: { t in
        guard t.contains(where: { $0 != nil }) else { return nil }
        return concatenate(zip(t, shapes).map { $0 ?? Tensor(zeros: $1) }, alongAxis: a)
      })
  }

  /// `axis` made nonnegative, checked to be in range.
  private func normalizedAxis(_ axis: Int, function: String) -> Int {
    let a = axis < 0 ? axis + rank : axis
    precondition(a >= 0 && a < rank, "\(function): axis \(axis) out of range for shape \(shape)")
    return a
  }

  /// The element counts before and after `axis`: `Π shape[..<axis]`, `Π shape[(axis+1)...]`.
  private func outerAndInner(_ axis: Int) -> (outer: Int, inner: Int) {
    (shape[..<axis].reduce(1, *), shape[(axis + 1)...].reduce(1, *))
  }
}

/// Strided copies of contiguous blocks between row-major arrays.
private enum BlockCopy {
  /// For each `r` in `0..<rows`, copies `blockLength` scalars from
  /// `source[r · sourceRow + sourceOffset ...]` to `destination[r · destinationRow + destinationOffset ...]`.
  static func copy<Scalar: BLASScalar>(
    _ source: NDArray<Scalar>, rowLength sourceRow: Int, offset sourceOffset: Int,
    into destination: inout NDArray<Scalar>, rowLength destinationRow: Int, offset destinationOffset: Int,
    blockLength: Int, rows: Int
  ) {
    guard blockLength > 0, rows > 0 else { return }
    precondition(
      (rows - 1) * sourceRow + sourceOffset + blockLength <= source.count
        && (rows - 1) * destinationRow + destinationOffset + blockLength <= destination.count,
      "internal error: block copy out of bounds")
    let bytes = blockLength * MemoryLayout<Scalar>.stride
    source.withUnsafeBufferPointer { src in
      destination.withUnsafeMutableBufferPointer { dst in
        let from = UnsafeRawPointer(src.baseAddress!), to = UnsafeMutableRawPointer(dst.baseAddress!)
        let step = MemoryLayout<Scalar>.stride
        for r in 0..<rows {
          (to + (r * destinationRow + destinationOffset) * step)
            .copyMemory(from: from + (r * sourceRow + sourceOffset) * step, byteCount: bytes)
        }
      }
    }
  }
}
