// What benchmark bodies use to keep their inputs out of the timing and their results alive:
// preallocated, aligned buffers and `blackHole`.

/// Consumes a value so that the optimizer cannot prove the computation producing it dead.
///
/// Call it at the end of every benchmark iteration with (a piece of) the result.
@inline(never) @_optimize(none)
func blackHole<T>(_ value: T) {
  withExtendedLifetime(value) {}
}

/// A 64-byte aligned, manually managed buffer for benchmark inputs and outputs, freed when
/// the last reference (usually the benchmark body) goes away.
///
/// Bodies work on these rather than on arrays so that an iteration times the computation,
/// not allocation, copy-on-write checks or page faults on fresh memory.
final class BenchmarkBuffer<Element> {
  let storage: UnsafeMutableBufferPointer<Element>

  /// `count` elements, all equal to `value`.
  init(repeating value: Element, count: Int) {
    let raw = UnsafeMutableRawPointer.allocate(
      byteCount: max(1, count) * MemoryLayout<Element>.stride,
      alignment: max(64, MemoryLayout<Element>.alignment))
    let start = raw.bindMemory(to: Element.self, capacity: count)
    start.initialize(repeating: value, count: count)
    storage = UnsafeMutableBufferPointer(start: start, count: count)
  }

  /// A copy of `elements`.
  convenience init(_ elements: [Element]) {
    precondition(!elements.isEmpty, "BenchmarkBuffer: empty input")
    self.init(repeating: elements[0], count: elements.count)
    _ = storage.update(fromContentsOf: elements)
  }

  deinit {
    storage.baseAddress?.deinitialize(count: storage.count)
    UnsafeMutableRawPointer(storage.baseAddress)?.deallocate()
  }

  /// Read-only view, for input operands.
  var readOnly: UnsafeBufferPointer<Element> { UnsafeBufferPointer(storage) }

  var count: Int { storage.count }
}
