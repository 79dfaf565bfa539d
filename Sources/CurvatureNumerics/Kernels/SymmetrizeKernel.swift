import Foundation

// The mirror of a symmetric matrix whose upper triangle alone was computed (`?syrk`: the
// KFAC factors). A plain transposing loop walks the lower triangle down its columns: with
// a row stride that is a power of two (a factor of order 8192 has 32 KiB rows) every row
// of a tile falls into the same L1 set, and the mirror of an 8192² factor cost more than
// its syrk. Here each tile of the upper triangle is read (and scaled) row by row into a
// small buffer, transposed there, and written as whole rows of the lower triangle, so
// every cache line of the matrix is touched once and in order. Only copies and one
// multiplication per element: the result does not depend on the tiling or the threads.

/// The tile edge: a 64 × 64 tile of Double is 32 KiB, the buffer stays in L1/L2, and a
/// tile row is whole cache lines.
private let symmetrizeTile = 64

/// Multiplies the upper triangle (with the diagonal) of the row-major `n × n` matrix at
/// `m` by `scale` and copies it into the lower triangle, so the matrix is symmetric. The
/// lower triangle's values on entry are not read.
/// - Parameters:
///   - m: The matrix, `n·n` scalars, row-major.
///   - n: The order.
///   - scale: The factor for every entry.
///   - threads: Threads to spread the tile rows over (≥ 1); the result is the same for
///     any count.
/// - Complexity: O(n²) copies, in tiles.
public func symmetrizeUpper<T: BLASScalar>(_ m: UnsafeMutablePointer<T>, n: Int, scale: T, threads: Int = 1) {
  // Concrete calls, so the loops are specialized whatever the caller's genericity.
  if T.self == Float.self {
    symmetrizeUpperThreads(
      UnsafeMutableRawPointer(m).assumingMemoryBound(to: Float.self), n: n, scale: unsafeBitCast(scale, to: Float.self),
      threads: threads)
  } else if T.self == Double.self {
    symmetrizeUpperThreads(
      UnsafeMutableRawPointer(m).assumingMemoryBound(to: Double.self), n: n, scale: unsafeBitCast(scale, to: Double.self),
      threads: threads)
  } else {
    symmetrizeUpperThreads(m, n: n, scale: scale, threads: threads)
  }
}

/// The tile rows (blocks of `symmetrizeTile` matrix rows) split over the threads: tile row
/// `b` writes rows `b·tile…` right of the diagonal and columns `b·tile…` below it, so the
/// tile rows never share an element. Worker `w` takes tile rows `w, w + threads, …` (the
/// work of a tile row shrinks down the matrix; interleaving balances it).
@inline(__always)
func symmetrizeUpperThreads<T: BLASScalar>(_ m: UnsafeMutablePointer<T>, n: Int, scale: T, threads: Int) {
  let blocks = (n + symmetrizeTile - 1) / symmetrizeTile
  // Below ~1 MiB of matrix the threads cost more than they save.
  let workers = n * n * MemoryLayout<T>.stride < (1 << 20) ? 1 : Swift.max(1, Swift.min(threads, blocks))
  if workers == 1 {
    symmetrizeUpperTileRows(m, n: n, scale: scale, first: 0, step: 1, blocks: blocks)
    return
  }
  let base = UInt(bitPattern: m)   // an address is Sendable; the workers write disjoint tile rows
  DispatchQueue.concurrentPerform(iterations: workers) { worker in
    symmetrizeUpperTileRows(
      UnsafeMutablePointer<T>(bitPattern: base)!, n: n, scale: scale, first: worker, step: workers, blocks: blocks)
  }
}

/// Tile rows `first, first + step, …` below `blocks`, with one transposition buffer.
@inline(__always)
func symmetrizeUpperTileRows<T: BLASScalar>(
  _ m: UnsafeMutablePointer<T>, n: Int, scale: T, first: Int, step: Int, blocks: Int
) {
  let buffer = UnsafeMutablePointer<T>.allocate(capacity: symmetrizeTile * symmetrizeTile)
  defer { buffer.deallocate() }
  for block in stride(from: first, to: blocks, by: step) {
    symmetrizeUpperTileRow(m, n: n, scale: scale, rows: block * symmetrizeTile, buffer: buffer)
  }
}

/// One tile row: rows `i0 ..< i0 + tile` of the upper triangle scaled in place and
/// mirrored into columns `i0 ..< i0 + tile` of the lower one.
@inline(__always)
func symmetrizeUpperTileRow<T: BLASScalar>(
  _ m: UnsafeMutablePointer<T>, n: Int, scale: T, rows i0: Int, buffer: UnsafeMutablePointer<T>
) {
  let tile = symmetrizeTile
  let iEnd = Swift.min(i0 &+ tile, n)
  let height = iEnd &- i0
  // The diagonal tile, in place.
  for i in i0..<iEnd {
    for j in i..<iEnd {
      let value = m[i &* n &+ j] * scale
      m[i &* n &+ j] = value
      m[j &* n &+ i] = value
    }
  }
  var j0 = iEnd
  while j0 < n {
    let jEnd = Swift.min(j0 &+ tile, n)
    let width = jEnd &- j0
    // Rows of the tile right of the diagonal, scaled, transposed into the buffer …
    for r in 0..<height {
      let row = m + ((i0 &+ r) &* n &+ j0)
      for c in 0..<width {
        let value = row[c] * scale
        row[c] = value
        buffer[c &* tile &+ r] = value
      }
    }
    // … and written as whole rows below the diagonal.
    for c in 0..<width {
      let destination = m + ((j0 &+ c) &* n &+ i0)
      destination.update(from: buffer + c &* tile, count: height)
    }
    j0 = jEnd
  }
}
