import Curvature
import Foundation
import Testing

private typealias Support = FilesTestSupport

/// Reading `.npy` files written by NumPy, writing files NumPy writes byte for byte, and
/// round trips.
@Suite struct NPYTests {
  @Test func readsVersion1() throws {
    let array = try NPYArray(contentsOf: Support.fixture("npy/v1_float32.npy"))
    #expect(array.shape == [3, 4])
    #expect(array.dtype == .float32)
    #expect(try array.floats(as: Float.self) == NDArray(shape: [3, 4], scalars: Support.ramp(12)))
    #expect(try array.floats(as: Double.self) == NDArray(shape: [3, 4], scalars: Support.ramp(12)))
  }

  @Test func readsVersion2() throws {
    let array = try NPYArray(contentsOf: Support.fixture("npy/v2_float64.npy"))
    #expect(try Support.fixtureBytes("npy/v2_float64.npy")[6] == 2)
    #expect(try array.floats(as: Double.self) == NDArray(shape: [2, 3], scalars: Support.ramp(6)))
  }

  @Test func readsVersion3() throws {
    let array = try NPYArray(contentsOf: Support.fixture("npy/v3_float64.npy"))
    #expect(try Support.fixtureBytes("npy/v3_float64.npy")[6] == 3)
    #expect(try array.floats(as: Float.self) == NDArray(shape: [4], scalars: Support.ramp(4)))
  }

  @Test(arguments: [
    ("float16", NPYDType.float16), ("float32", .float32), ("float64", .float64), ("int64", .int64),
    ("int32", .int32), ("uint8", .uint8), ("bool", .bool),
  ])
  func readsEveryDType(name: String, dtype: NPYDType) throws {
    let array = try NPYArray(contentsOf: Support.fixture("npy/dtype_\(name).npy"))
    let base = [0, -3, 7, 42, 1, 5]
    let expected = dtype == .uint8 ? base.map(abs) : dtype == .bool ? base.map { abs($0) % 2 } : base
    #expect(array.dtype == dtype)
    #expect(array.shape == [2, 3])
    #expect(try array.integers() == expected)
    #expect(try array.floats(as: Double.self).scalars == expected.map(Double.init))
    #expect(try array.floats(as: Float.self).scalars == expected.map(Float.init))
  }

  @Test func readsScalarAndEmptyArrays() throws {
    let scalar = try NPYArray(contentsOf: Support.fixture("npy/scalar_float64.npy"))
    #expect(scalar.shape == [])
    #expect(try scalar.floats(as: Double.self) == NDArray(scalar: 3.5))
    let empty = try NPYArray(contentsOf: Support.fixture("npy/empty_float32.npy"))
    #expect(empty.shape == [0])
    #expect(try empty.floats(as: Float.self).count == 0)
    let emptyRows = try NPYArray(contentsOf: Support.fixture("npy/empty_rows_float64.npy"))
    #expect(emptyRows.shape == [0, 3])
    #expect(try emptyRows.integers() == [])
  }

  @Test func convertsIntegralFloatsToIntegers() throws {
    #expect(try NPYArray(contentsOf: Support.fixture("npy/integral_float64.npy")).integers() == [1, -2, 3])
  }

  @Test func nonFiniteValuesPassUnlessFinitenessIsRequired() throws {
    let array = try NPYArray(contentsOf: Support.fixture("npy/nonfinite_float32.npy"))
    let values = try array.floats(as: Float.self)
    #expect(values.scalars[2].isNaN && values.scalars[3] == .infinity)
  }

  @Test func writesWhatNumPyWrites() throws {
    let float32 = NPYArray(NDArray<Float>(shape: [3, 4], scalars: Support.ramp(12)))
    #expect(float32.npyBytes() == (try Support.fixtureBytes("npy/v1_float32.npy")))
    let values = [0, -3, 7, 42, 1, 5]
    let float64 = NPYArray(NDArray<Double>(shape: [2, 3], scalars: values.map(Double.init)))
    #expect(float64.npyBytes() == (try Support.fixtureBytes("npy/dtype_float64.npy")))
    #expect(NPYArray(integers: values, shape: [2, 3]).npyBytes() == (try Support.fixtureBytes("npy/dtype_int64.npy")))
    #expect(NPYArray(NDArray<Double>(scalar: 3.5)).npyBytes() == (try Support.fixtureBytes("npy/scalar_float64.npy")))
    #expect(NPYArray(NDArray<Float>(zeros: [0])).npyBytes() == (try Support.fixtureBytes("npy/empty_float32.npy")))
  }

  @Test(arguments: [[], [0], [1], [2, 3, 4]] as [[Int]])
  func roundTripFloat(shape: [Int]) throws { try checkRoundTrip(Float.self, shape: shape) }

  @Test(arguments: [[], [0], [1], [2, 3, 4]] as [[Int]])
  func roundTripDouble(shape: [Int]) throws { try checkRoundTrip(Double.self, shape: shape) }

  @Test func roundTripIntegers() throws {
    try Support.withScratchDirectory { directory in
      let url = directory.appendingPathComponent("labels.npy")
      let labels = [3, -1, Int.max, Int.min, 0, 9]
      try NPYArray(integers: labels, shape: [3, 2]).write(to: url)
      let read = try NPYArray(contentsOf: url)
      #expect(read.dtype == .int64 && read.shape == [3, 2])
      #expect(try read.integers() == labels)
    }
  }

  @Test func usesVersion2WhenTheHeaderNeedsIt() throws {
    let shape = [Int](repeating: 1, count: 25_000)  // a header longer than 65535 bytes
    let array = NPYArray(NDArray<Double>(shape: shape, scalars: [2.5]))
    let bytes = array.npyBytes()
    #expect(bytes[6] == 2 && bytes[7] == 0)
    let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
    #expect((12 + headerLength) % 64 == 0)
    let read = try NPYArray(npyBytes: bytes)
    #expect(read.shape == shape)
    #expect(try read.floats(as: Double.self).scalars == [2.5])
  }

  @Test func rawInitializerChecksTheSize() throws {
    let array = try NPYArray(shape: [2], dtype: .int32, data: [1, 0, 0, 0, 255, 255, 255, 255])
    #expect(try array.integers() == [1, -1])
    expectFileFormatError("labels.bin", "data size does not match the shape", "8 bytes") {
      _ = try NPYArray(shape: [2], dtype: .int32, data: [1, 2, 3], source: "labels.bin")
    }
  }

  private func checkRoundTrip<T: BLASScalar>(_: T.Type, shape: [Int]) throws {
    try Support.withScratchDirectory { directory in
      let original = NDArray<T>(shape: shape, scalars: Support.trickyValues(NDArray<T>.elementCount(shape)))
      let url = directory.appendingPathComponent("round_trip.npy")
      try NPYArray(original).write(to: url)
      let read = try NPYArray(contentsOf: url)
      #expect(read.dtype == (T.self == Float.self ? .float32 : .float64))
      #expect(bitIdentical(try read.floats(as: T.self), original))
    }
  }
}
