import Curvature
import Testing

/// The vectorized finiteness scan (`BLASScalar.firstNonFinite`, `NDArray.firstNonFiniteIndex`)
/// that guards file reads, network outputs and product columns: the first NaN or infinity
/// wherever it falls relative to the scan's blocks of 1,024 elements, and no false alarm on
/// the extreme finite values.
@Suite struct FinitenessKernelTests {
  func firstIndexAtEveryPosition<T: BLASScalar>(_: T.Type) {
    for count in [0, 1, 3, 1023, 1024, 1025, 2048, 5000] {
      let clean = NDArray<T>(shape: [count], scalars: (0..<count).map { T($0 % 7) - 3 })
      #expect(clean.firstNonFiniteIndex == nil && clean.isFinite, "count \(count)")
      let positions = Set([0, count / 2, 1023, 1024, 1025, count - 1].filter { $0 >= 0 && $0 < count })
      for position in positions.sorted() {
        for bad in [T.nan, T.infinity, -T.infinity, T.signalingNaN] {
          var array = clean
          array.scalars[position] = bad
          #expect(array.firstNonFiniteIndex == position, "count \(count), \(bad) at \(position)")
          #expect(!array.isFinite)
          // A later non-finite value does not hide the first one.
          if position + 1 < count {
            array.scalars[count - 1] = .nan
            #expect(array.firstNonFiniteIndex == position, "count \(count), second NaN after \(position)")
          }
        }
      }
    }
  }

  @Test func firstIndexAtEveryPositionFloat() { firstIndexAtEveryPosition(Float.self) }
  @Test func firstIndexAtEveryPositionDouble() { firstIndexAtEveryPosition(Double.self) }

  func extremeFiniteValues<T: BLASScalar>(_: T.Type) {
    let values: [T] = [
      .greatestFiniteMagnitude, -.greatestFiniteMagnitude, .leastNonzeroMagnitude, -.leastNonzeroMagnitude,
      .leastNormalMagnitude, -0.0, 0, .ulpOfOne, 1 / .ulpOfOne,
    ]
    let array = NDArray<T>(shape: [values.count * 300], scalars: Array(repeating: values, count: 300).flatMap { $0 })
    #expect(array.firstNonFiniteIndex == nil && array.isFinite)
    let scanned = array.withUnsafeBufferPointer { T.firstNonFinite($0) }
    #expect(scanned == nil)
  }

  @Test func extremeFiniteValuesFloat() { extremeFiniteValues(Float.self) }
  @Test func extremeFiniteValuesDouble() { extremeFiniteValues(Double.self) }
}
