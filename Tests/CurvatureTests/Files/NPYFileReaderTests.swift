import Curvature
import Foundation
import Testing

private typealias Support = FilesTestSupport

/// Reading batches of rows of `.npy` files and `.npz` members without loading them whole.
@Suite struct NPYFileReaderTests {
  /// Row `r` of `npy/rows_float64.npy` is `[10r, 10r + 1, 10r + 2, 10r + 3]`.
  private func expectedRows(_ range: Range<Int>) -> [Double] {
    range.flatMap { r in (0..<4).map { Double(10 * r + $0) } }
  }

  @Test func readsRowRanges() throws {
    let reader = try NPYFileReader(contentsOf: Support.fixture("npy/rows_float64.npy"))
    #expect(reader.shape == [50, 4] && reader.rowCount == 50 && reader.rowShape == [4] && reader.dtype == .float64)
    #expect(try reader.rows(10..<13, as: Double.self) == NDArray(shape: [3, 4], scalars: expectedRows(10..<13)))
    #expect(try reader.rows(49..<50, as: Float.self).scalars == expectedRows(49..<50).map(Float.init))
    #expect(try reader.rows(7..<7, as: Double.self).shape == [0, 4])
    #expect(try reader.integerRows(0..<2) == expectedRows(0..<2).map { Int($0) })
  }

  @Test func batchesCoverTheArray() throws {
    let reader = try NPYFileReader(contentsOf: Support.fixture("npy/rows_float64.npy"))
    let batches = reader.batchRanges(size: 16)
    #expect(batches == [0..<16, 16..<32, 32..<48, 48..<50])
    let all = try batches.flatMap { try reader.rows($0, as: Double.self).scalars }
    #expect(all == expectedRows(0..<50))
    #expect(try reader.readAll() == NPYArray(contentsOf: Support.fixture("npy/rows_float64.npy")))
  }

  @Test func rejectsRowsOutOfRange() throws {
    let reader = try NPYFileReader(contentsOf: Support.fixture("npy/rows_float64.npy"))
    expectFileFormatError("rows_float64.npy", "rows out of range", "0..<50") { _ = try reader.rows(45..<51, as: Double.self) }
    let scalar = try NPYFileReader(contentsOf: Support.fixture("npy/scalar_float64.npy"))
    expectFileFormatError("scalar_float64.npy", "0-d array has no rows") { _ = try scalar.rows(0..<1, as: Double.self) }
  }

  @Test func validatesTheHeaderOnOpen() {
    expectFileFormatError("fortran_order.npy", "Fortran order") {
      _ = try NPYFileReader(contentsOf: Support.fixture("npy/fortran_order.npy"))
    }
  }

  @Test func readsAcrossChunksAndNamesTheGlobalIndexOfNaN() throws {
    try Support.withScratchDirectory { directory in
      let rows = 100_000, columns = 3  // 2.4 MB: several 1 MiB chunks
      var values = (0..<(rows * columns)).map { Double($0) }
      values[250_001] = .nan
      let url = directory.appendingPathComponent("big.npy")
      try NPYArray(NDArray(shape: [rows, columns], scalars: values)).write(to: url)
      let reader = try NPYFileReader(contentsOf: url)
      let batch = try reader.rows(40_000..<95_000, as: Double.self)
      #expect(batch.shape == [55_000, 3])
      #expect(batch.scalars.first == 120_000 && batch.scalars.last == 284_999 && batch.scalars[130_001].isNaN)
      let finite = try reader.rows(0..<80_000, as: Float.self, requireFinite: true)
      #expect(finite.scalars[200_000] == 200_000)
      expectFileFormatError("big.npy", "non-finite", "flat index 250001", "[83333, 2]") {
        _ = try reader.rows(80_000..<90_000, as: Float.self, requireFinite: true)
      }
    }
  }

  @Test func readsStoredAndCompressedNPZMembers() throws {
    for file in ["npz/savez.npz", "npz/savez_compressed.npz"] {
      let npz = try NPZFile(contentsOf: Support.fixture(file))
      let x = try npz.reader(named: "X")
      #expect(x.shape == [10, 3])
      #expect(try x.rows(2..<4, as: Float.self).scalars == [3, 3.5, 4, 4.5, 5, 5.5])
      #expect(try npz.reader(named: "y").integerRows(3..<7) == [0, 1, 2, 0])
    }
  }
}
