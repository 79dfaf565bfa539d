import Curvature
import Foundation
import Testing

private typealias Support = GraphSupport

/// Integer `.npy` inputs (token ids, masks) converted exactly, and one `.npy` file per
/// graph input.
@Suite struct GraphDataTests {
  /// int64, int32 and bool inputs read as exact numbers; several input files batch together.
  func integerAndMultipleInputs<T: BLASScalar>(_: T.Type) throws {
    try Support.withScratchDirectory { directory in
      let ids = directory.appendingPathComponent("ids.npy"), mask = directory.appendingPathComponent("mask.npy")
      let y = directory.appendingPathComponent("y.npy")
      try NPYArray(integers: [3, 0, 16_777_215, 7, 1, 2], shape: [3, 2]).write(to: ids)
      try NPYArray(shape: [3, 2], dtype: .bool, data: [1, 0, 0, 1, 1, 1]).write(to: mask)
      try NPYArray(integers: [0, 1, 0]).write(to: y)
      let data = try NPYDataset<T>(inputs: [ids, mask], targets: y, classTargets: true)
      #expect(data.count == 3 && data.inputShape == [2])
      #expect(data.source.inputs == "\(ids.path), \(mask.path)")
      let batch = try data.batch(1..<3)
      #expect(batch.inputs == NDArray(shape: [2, 2], scalars: [16_777_215, 7, 1, 2]))
      #expect(batch.extraInputs == [NDArray(shape: [2, 2], scalars: [0, 1, 1, 1])])
      #expect(batch.allInputs.count == 2 && batch.inputTensors.count == 2)
      // One input file: the same data as before, no extra inputs.
      let single = try NPYDataset<T>(inputs: ids, targets: y, classTargets: true)
      #expect(try single.batch(0..<3).extraInputs.isEmpty)
      #expect(try single.batch(0..<1).inputs == NDArray(shape: [1, 2], scalars: [3, 0]))
    }
  }

  @Test func integerAndMultipleInputsFloat() throws { try integerAndMultipleInputs(Float.self) }
  @Test func integerAndMultipleInputsDouble() throws { try integerAndMultipleInputs(Double.self) }

  /// A token id of 2²⁴ or more cannot be a Float exactly: an error naming the file, the
  /// element and the data point (Double reads it).
  @Test func largeIdsInFloat() throws {
    try Support.withScratchDirectory { directory in
      let ids = directory.appendingPathComponent("ids.npy"), y = directory.appendingPathComponent("y.npy")
      try NPYArray(integers: [1, 2, 16_777_217, 4], shape: [2, 2]).write(to: ids)
      try NPYArray(integers: [0, 1]).write(to: y)
      let error = #expect(throws: DataError.self) {
        _ = try NPYDataset<Float>(inputs: ids, targets: y, classTargets: true).batch(0..<2)
      }
      for fragment in [ids.path, "element 2", "data point 1", "16777217", "float32"] {
        #expect(error?.description.contains(fragment) == true, "\(String(describing: error)) lacks \(fragment)")
      }
      #expect(try NPYDataset<Double>(inputs: ids, targets: y, classTargets: true).batch(1..<2).inputs.scalars == [16_777_217, 4])
      // Files whose row counts differ are refused naming both.
      let short = directory.appendingPathComponent("short.npy")
      try NPYArray(integers: [1]).write(to: short)
      let mismatch = #expect(throws: DataError.self) { _ = try NPYDataset<Double>(inputs: [ids, short], targets: y, classTargets: true) }
      #expect(mismatch?.description.contains(short.path) == true)
    }
  }

  /// A graph with a token-id input runs on an `NPYDataset` of int64 ids.
  @Test func graphOnIntegerFiles() throws {
    let graph = try Support.transformerModel(as: Float.self).graph!
    try Support.withScratchDirectory { directory in
      let ids = directory.appendingPathComponent("ids.npy"), y = directory.appendingPathComponent("y.npy")
      try NPYArray(integers: [0, 1, 2, 4, 3, 2], shape: [2, 3]).write(to: ids)
      try NPYArray(integers: [1, 4]).write(to: y)
      let data = try NPYDataset<Float>(inputs: [ids], targets: y, classTargets: true)
      let problem = try CurvatureProblem(model: graph, loss: Loss(.crossEntropy, reduction: .mean), data: data)
      #expect(problem.dimension == 64 && problem.sampleOutputShape == [5])
    }
  }

  /// Per-position class targets (`[N, d1]` flattened) in memory: each batch takes its data
  /// points' positions; a count that is no multiple of N is still refused.
  @Test func perPositionClassTargetsInMemory() throws {
    let data = try ArrayDataset<Double>(inputs: NDArray(zeros: [3, 2]), targets: .classes([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]))
    #expect(try data.batch(1..<3).targets == .classes([4, 5, 6, 7, 8, 9, 10, 11]))
    #expect(try data.batch(0..<1).targets == .classes([0, 1, 2, 3]))
    #expect(throws: DataError.self) { _ = try ArrayDataset<Double>(inputs: NDArray(zeros: [3, 2]), targets: .classes([0, 1, 2, 3])) }
  }
}
