import Dispatch
import Foundation
import Synchronization
import CurvatureNumerics
import CurvatureAutodiff
import CurvatureNN

// Both cores for the passes over a batch (issue 17): a batch's data points are split into
// row chunks, each chunk runs the pass on its own (its activations only), on its own
// thread with one BLAS thread each, and the chunks' results are added in chunk order.
//
// Determinism: the chunks depend only on the batch's row count, the model's loss terms per
// data point and the machine's processor count (`rowChunks`), never on the thread count,
// and the reduction order is fixed (chunk 0, then 1, …), so every result has the same bits
// with 1, 2 or more threads and from run to run. (Another machine may split a batch
// otherwise, as its BLAS kernels may round otherwise.) Against a batch processed whole
// (batches of fewer than two chunks' worth of loss terms, and models other than
// `Sequential` and `GraphModel`), results differ only by the order of additions, as with
// another batch size.

extension CurvatureProblem {
  /// Loss terms per chunk at least (smaller batches are not split): below this, the
  /// per-chunk gemms get too thin to pay for the split. A data point with one loss term (a
  /// classifier's image) counts one: 64 data points per chunk. A sequence of T tokens with
  /// a term per token counts T, with 512 terms per chunk: a graph's per-op overhead is paid
  /// per chunk, and products with k columns already keep both cores busy with the columns
  /// (the compare.py GPT, 32 sequences of 32 tokens: 2 chunks; with 4 chunks its
  /// `[P, 32]` products took 17–36% more CPU time, while its matvecs ran no faster).
  /// - Parameter termsPerRow: Loss terms per data point.
  /// - Returns: 64 for one term per data point, else 512.
  static func minimumChunkTerms(termsPerRow: Int) -> Int { termsPerRow > 1 ? 512 : 64 }

  /// Chunks per batch at most: the machine's processors, 1 to 4.
  ///
  /// One chunk per core, not more: a core working through two chunks pays the per-chunk
  /// costs twice and runs thinner gemms. On 2 cores, the compare.py MLP (N = 512) in 2
  /// chunks instead of 4 (`curv bench --threads 2`, medians of three runs): gradient
  /// 8.7 → 7.1 ms, GGN matvec 8.5 → 7.4 ms, Hessian matvec 17.9 → 15.2 ms.
  /// The configured processors (`ProcessInfo.processorCount`), not those this process may
  /// run on or `threads`, so the split, and with it every result's bits, is the same for
  /// any thread count, affinity or MPI binding on one machine.
  package static var maximumChunks: Int { machineChunkLimit }

  /// The fixed split of `rows` data points into consecutive chunks: `min(maximumChunks,
  /// rows / ⌈minimumChunkTerms(termsPerRow:) / termsPerRow⌉)` chunks (at least one), sizes differing by
  /// at most one, the larger first. Depends on its arguments only.
  /// - Parameters:
  ///   - rows: The batch's data points.
  ///   - termsPerRow: Loss terms per data point (tokens of a sequence model, else 1).
  ///   - maximumChunks: Chunks at most (default: `maximumChunks`, this machine's).
  /// - Returns: The chunks' ranges of data points, in order, covering `0..<rows`.
  package static func rowChunks(
    _ rows: Int, termsPerRow: Int = 1, maximumChunks: Int = maximumChunks
  ) -> [Range<Int>] {
    let terms = Swift.max(termsPerRow, 1)
    let perChunk = Swift.max(1, (minimumChunkTerms(termsPerRow: terms) + terms - 1) / terms)
    let count = Swift.max(1, Swift.min(maximumChunks, rows / perChunk))
    let (base, extra) = rows.quotientAndRemainder(dividingBy: count)
    var start = 0
    return (0..<count).map { c in
      let size = base + (c < extra ? 1 : 0)
      defer { start += size }
      return start..<(start + size)
    }
  }

  /// Whether batches are split into row chunks: for `Sequential` and `GraphModel`, whose
  /// outputs for one data point do not depend on the others and whose forward passes share
  /// no mutable state. (A `FunctionModel`'s closure could do either.)
  var splitsBatches: Bool { model is Sequential<Scalar> || model is GraphModel<Scalar> }

  /// Loss terms of one data point (`Loss.termShape`): the positions of a per-token loss.
  package var termsPerDataPoint: Int { loss.termShape([1] + sampleOutputShape)[0] }

  /// The threads row chunks run on: `threads`, or `NumericsBackend.threadCount`.
  var chunkThreads: Int { Swift.max(1, threads ?? NumericsBackend.threadCount) }

  /// The batch as row chunks (`[batch]` when it is not split).
  func rowChunks(of batch: Batch<Scalar>) -> [Batch<Scalar>] {
    let rows = batch.range.count
    guard splitsBatches else { return [batch] }
    let chunks = Self.rowChunks(rows, termsPerRow: termsPerDataPoint)
    guard chunks.count > 1 else { return [batch] }
    return chunks.map { batch.rows($0) }
  }
}

extension Batch {
  /// Data points `local` (positions within this batch) as a batch of their own.
  func rows(_ local: Range<Int>) -> Batch<Scalar> {
    let rows = range.count
    let targets: Targets<Scalar>
    switch self.targets {
    case let .classes(classes):
      // Per-position class targets `[N, d1, …]` are flattened: `per` indices a data point.
      let per = classes.count / Swift.max(rows, 1)
      targets = .classes(Array(classes[(local.lowerBound * per)..<(local.upperBound * per)]))
    case let .values(values):
      targets = .values(sliceRows(values, local))
    }
    return Batch(
      inputs: sliceRows(inputs, local), targets: targets,
      range: (range.lowerBound + local.lowerBound)..<(range.lowerBound + local.upperBound),
      extraInputs: extraInputs.map { sliceRows($0, local) })
  }
}

/// Rows `local` of `x` `[B, ...]`, copied as raw memory.
func sliceRows<T: BLASScalar>(_ x: NDArray<T>, _ local: Range<Int>) -> NDArray<T> {
  let per = x.count / Swift.max(x.shape[0], 1)
  let bytes = per * MemoryLayout<T>.stride
  return NDArray(uninitializedShape: [local.count] + x.shape.dropFirst()) { slice in
    guard local.count > 0, per > 0 else { return }
    x.withUnsafeBufferPointer { source in
      UnsafeMutableRawPointer(slice.baseAddress!).copyMemory(
        from: UnsafeRawPointer(source.baseAddress! + local.lowerBound * per), byteCount: local.count * bytes)
    }
  }
}

/// `body(0) … body(count − 1)`, their results in index order.
///
/// With `threads` ≥ 2 and several items, the items run on that many
/// threads (item `i` on worker `i mod threads`), each BLAS call inside on one thread
/// (`NumericsBackend.withSingleThreadedBLAS`); otherwise one after the other. The
/// autodiff mode of the caller holds inside `body` on every thread. Errors: the one of the
/// lowest item that threw, after all items have finished.
func inParallel<R: Sendable>(_ count: Int, threads: Int, _ body: @Sendable (Int) throws -> R) throws -> [R] {
  let threads = Swift.min(count, threads)
  guard threads > 1 else { return try (0..<count).map(body) }
  let mode = AutodiffMode.current
  return try NumericsBackend.withSingleThreadedBLAS { _ in
    let slots = ResultSlots<R>(count)
    DispatchQueue.concurrentPerform(iterations: threads) { worker in
      AutodiffMode.$current.withValue(mode) {
        for item in stride(from: worker, to: count, by: threads) {
          slots.set(item, Result { try body(item) })
        }
      }
    }
    return try slots.results()
  }
}

/// One result per item, written from the workers of `inParallel`.
private final class ResultSlots<R: Sendable>: Sendable {
  private let slots: Mutex<[Result<R, any Error>?]>

  init(_ count: Int) { slots = Mutex(Array(repeating: nil, count: count)) }

  func set(_ item: Int, _ result: Result<R, any Error>) { slots.withLock { $0[item] = result } }

  /// The results in item order, or the first item's error.
  func results() throws -> [R] { try slots.withLock { $0 }.map { try $0!.get() } }
}

/// The row-chunk cap of this machine: its configured processors, 1 to 4.
private let machineChunkLimit = Swift.min(4, Swift.max(1, ProcessInfo.processInfo.processorCount))
