import Curvature
import Foundation
import Synchronization
import Testing

/// A data set that counts the batches it is asked for.
private final class CountingDataset<Scalar: BLASScalar>: Dataset, Sendable {
  let base: ArrayDataset<Scalar>
  let requests = Mutex(0)
  init(_ base: ArrayDataset<Scalar>) { self.base = base }
  var count: Int { base.count }
  var inputShape: [Int] { base.inputShape }
  func batch(_ range: Range<Int>) throws -> Batch<Scalar> {
    requests.withLock { $0 += 1 }
    return try base.batch(range)
  }
  var requestCount: Int { requests.withLock { $0 } }
}

/// Data read once and held in memory (issue 17): `InMemoryDataset` asks its base set for a
/// batch once when it fits the budget and every time when it does not, and a curvature
/// problem on `.npy` files reads them once, with the same results.
@Suite struct InMemoryDatasetTests {
  static func arrays<T: BLASScalar>(_: T.Type, points: Int = 6) throws -> ArrayDataset<T> {
    let x = NDArray<T>(shape: [points, 3], scalars: (0..<(points * 3)).map { T($0) * 0.25 - 1 })
    return try ArrayDataset(inputs: x, targets: .classes((0..<points).map { $0 % 2 }))
  }

  func holdsWithinBudget<T: BLASScalar>(_: T.Type) throws {
    let counting = CountingDataset(try Self.arrays(T.self))
    let held = InMemoryDataset(counting, budget: 1 << 20)
    let first = try held.batch(0..<4), again = try held.batch(0..<4)
    #expect(counting.requestCount == 1)
    #expect(first.inputs == again.inputs && first.targets == again.targets && again.range == 0..<4)
    #expect(held.heldBytes == 4 * 3 * MemoryLayout<T>.stride + 4 * MemoryLayout<Int>.stride)
    #expect(held.count == 6 && held.inputShape == [3])
    _ = try held.batch(4..<6)
    _ = try held.batch(4..<6)
    #expect(counting.requestCount == 2)

    // No budget: every request reads the base set.
    let streaming = CountingDataset(try Self.arrays(T.self))
    let none = InMemoryDataset(streaming, budget: 0)
    for _ in 0..<3 { _ = try none.batch(0..<4) }
    #expect(streaming.requestCount == 3 && none.heldBytes == 0)

    // A budget for one batch: the first is held, the second streamed.
    let partial = CountingDataset(try Self.arrays(T.self))
    let one = InMemoryDataset(partial, budget: 3 * 3 * MemoryLayout<T>.stride + 3 * MemoryLayout<Int>.stride)
    for _ in 0..<2 {
      _ = try one.batch(0..<3)
      _ = try one.batch(3..<6)
    }
    #expect(partial.requestCount == 3)
  }

  @Test func holdsWithinBudgetFloat() throws { try holdsWithinBudget(Float.self) }
  @Test func holdsWithinBudgetDouble() throws { try holdsWithinBudget(Double.self) }

  /// A problem on `.npy` files reads them in its first pass only: overwriting the files
  /// afterwards changes nothing, and every result equals the one on the same data in
  /// memory, bit for bit.
  func filesReadOnce<T: BLASScalar>(_: T.Type) throws {
    let arrays = try Self.arrays(T.self)
    let model = try Sequential<T>([Linear(inFeatures: 3, outFeatures: 4), Tanh(), Linear(inFeatures: 4, outFeatures: 2)], seed: 5)
    let loss = Loss<T>(.crossEntropy)
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("curvature-inmemory-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let x = directory.appendingPathComponent("X.npy"), y = directory.appendingPathComponent("y.npy")
    try NPYArray(arrays.inputs).write(to: x)
    try NPYArray(integers: (0..<6).map { $0 % 2 }).write(to: y)

    let files = try NPYDataset<T>(inputs: x, targets: y, classTargets: true)
    let problem = try CurvatureProblem(model: model, loss: loss, data: files, batchSize: 4)
    let reference = try CurvatureProblem(model: model, loss: loss, data: arrays, batchSize: 4)
    #expect(problem.data is InMemoryDataset<T>)
    #expect(problem.data.source.inputs == x.path)

    // Different values on disk, written in place (the reader's open file sees them): a
    // problem that read the file again would change.
    try Self.overwriteInPlace(x, with: NDArray<T>(shape: [6, 3], scalars: Array(repeating: 7, count: 18)))
    #expect(try files.batch(0..<1).inputs.scalars == [7, 7, 7])
    let (lossValue, gradient) = try problem.lossAndGradient()
    let (referenceLoss, referenceGradient) = try reference.lossAndGradient()
    #expect(lossValue == referenceLoss && gradient == referenceGradient)
    let v = NDArray<T>(shape: [problem.dimension], scalars: (0..<problem.dimension).map { T($0 % 5) - 2 })
    #expect(try GGNOperator(problem).apply(v) == (try GGNOperator(reference).apply(v)))
    #expect(try HessianOperator(problem).apply(v) == (try HessianOperator(reference).apply(v)))

    // The data may take half of the memory budget.
    let budgeted = try CurvatureProblem(model: model, loss: loss, data: files, batchSize: 4, memoryBudget: 200_000)
    #expect((budgeted.data as? InMemoryDataset<T>)?.budget == 100_000)
    // A data set in memory, or one of the user's, is not wrapped (it may be random).
    #expect(reference.data is ArrayDataset<T>)
  }

  /// Replaces the elements of an `.npy` file of the same shape and dtype without replacing
  /// the file (an open reader sees the new bytes).
  static func overwriteInPlace<T: BLASScalar>(_ url: URL, with array: NDArray<T>) throws {
    let bytes = NPYArray(array).data
    let handle = try FileHandle(forWritingTo: url)
    defer { try? handle.close() }
    let size = try handle.seekToEnd()
    try handle.seek(toOffset: size - UInt64(bytes.count))
    try handle.write(contentsOf: Data(bytes))
  }

  @Test func filesReadOnceFloat() throws { try filesReadOnce(Float.self) }
  @Test func filesReadOnceDouble() throws { try filesReadOnce(Double.self) }
}
