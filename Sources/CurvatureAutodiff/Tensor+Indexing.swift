import CurvatureNumerics

// Index gathers and scatters: linear operations whose pullback is the adjoint (a gather's
// is a scatter-add and back) and whose differential is the operation itself. Each runs as
// one kernel call over a flat index array, so convolution can build im2col from them.

extension Tensor {
  /// The elements at flat (row-major) positions of `self`, arranged as `shape`:
  /// `result.flat[i] = self.flat[flatIndices[i]]`, or 0 where `flatIndices[i] < 0`
  /// (padding). Indices may repeat; their cotangents then add up.
  ///
  /// - Parameters:
  ///   - flatIndices: One index per result element, each `< count` (negative for 0).
  ///   - shape: The result's shape; its element count is `flatIndices.count`.
  /// - Returns: The gathered tensor; its pullback is `scatteringAdd(flatIndices:shape:)`
  ///   back to `self.shape`.
  /// - Complexity: O(flatIndices.count), one kernel call (and one pass checking indices).
  public func gathering(flatIndices: [Int], shape target: [Int]) -> Tensor {
    precondition(
      flatIndices.count == NDArray<Scalar>.elementCount(target),
      "gathering(flatIndices:shape:): \(flatIndices.count) indices for result shape \(target)")
    Tensor.checkFlatIndices(flatIndices, below: count, function: "gathering(flatIndices:shape:)", shape: shape)
    return gatheringUnchecked(flatIndices, shape: target)
  }

  /// The elements of `self` added into a zero tensor of `shape` at flat positions:
  /// `result.flat[flatIndices[i]] += self.flat[i]`, skipping negative indices. The adjoint
  /// of `gathering(flatIndices:shape:)`.
  ///
  /// - Parameters:
  ///   - flatIndices: One index per element of `self`, each below the element count of
  ///     `shape` (negative to drop the element).
  ///   - shape: The result's shape.
  /// - Returns: The scattered sums; its pullback is `gathering(flatIndices:shape:)` back to
  ///   `self.shape`.
  /// - Complexity: O(count + elements of `shape`), one kernel call.
  public func scatteringAdd(flatIndices: [Int], shape target: [Int]) -> Tensor {
    precondition(
      flatIndices.count == count,
      "scatteringAdd(flatIndices:shape:): \(flatIndices.count) indices for a tensor of shape \(shape)")
    Tensor.checkFlatIndices(
      flatIndices, below: NDArray<Scalar>.elementCount(target), function: "scatteringAdd(flatIndices:shape:)",
      shape: target)
    return scatteringAddUnchecked(flatIndices, shape: target)
  }

  /// For logits of shape `[N, C]`, the entry of each row at its class index:
  /// `result[i] = self[i, classIndices[i]]` (the picking step of `nll_loss`).
  ///
  /// ```swift
  /// let loss = -logits.logSoftmax().selecting(classIndices: labels).mean()  // cross-entropy
  /// ```
  /// - Parameters:
  ///   - classIndices: `N` indices, each in `0..<C`.
  /// - Returns: A tensor of shape `[N]`; its pullback is `scatteringClasses(_:classCount:)`.
  /// - Complexity: O(N).
  public func selecting(classIndices: [Int]) -> Tensor {
    precondition(rank == 2, "selecting(classIndices:): tensor of shape \(shape) is not [N, C]")
    let (n, c) = (shape[0], shape[1])
    precondition(
      classIndices.count == n,
      "selecting(classIndices:): \(classIndices.count) class indices for \(n) rows (shape \(shape))")
    return gatheringUnchecked(Tensor.classFlatIndices(classIndices, classCount: c, function: "selecting(classIndices:)"), shape: [n])
  }

  /// For a tensor of shape `[N]`, the `[N, C]` tensor holding `self[i]` at
  /// `[i, indices[i]]` and zeros elsewhere: the adjoint of `selecting(classIndices:)`
  /// (one-hot rows scaled by `self`).
  ///
  /// - Parameters:
  ///   - indices: `N` class indices, each in `0..<classCount`.
  ///   - classCount: `C`, the number of classes.
  /// - Returns: A tensor of shape `[N, classCount]`; its pullback is
  ///   `selecting(classIndices:)`.
  /// - Complexity: O(N · C) to fill the zeros.
  public func scatteringClasses(_ indices: [Int], classCount: Int) -> Tensor {
    precondition(rank == 1, "scatteringClasses(_:classCount:): tensor of shape \(shape) is not [N]")
    precondition(classCount >= 0, "scatteringClasses(_:classCount:): negative class count \(classCount)")
    precondition(
      indices.count == shape[0],
      "scatteringClasses(_:classCount:): \(indices.count) class indices for shape \(shape)")
    let flat = Tensor.classFlatIndices(indices, classCount: classCount, function: "scatteringClasses(_:classCount:)")
    return scatteringAddUnchecked(flat, shape: [shape[0], classCount])
  }

  // MARK: Primitives (indices already checked)

  /// The gather primitive; its pullback scatters back and its differential gathers.
  func gatheringUnchecked(_ indices: [Int], shape target: [Int]) -> Tensor {
    let source = shape
    return Tensor.primitive(
      value.gathered(indices, shape: target), inputs: [self],
      pullback: { g, _ in [g.scatteringAddUnchecked(indices, shape: source)] },
      differential: { t in t[0]?.gatheringUnchecked(indices, shape: target) })
  }

  /// The scatter-add primitive; its pullback gathers back and its differential scatters.
  func scatteringAddUnchecked(_ indices: [Int], shape target: [Int]) -> Tensor {
    let source = shape
    return Tensor.primitive(
      value.scatteredAdd(indices, shape: target), inputs: [self],
      pullback: { g, _ in [g.gatheringUnchecked(indices, shape: source)] },
      differential: { t in t[0]?.scatteringAddUnchecked(indices, shape: target) })
  }

  /// Stops with a message naming the first index `≥ bound`, its position and the shape.
  private static func checkFlatIndices(_ indices: [Int], below bound: Int, function: String, shape: [Int]) {
    guard let largest = indices.max(), largest >= bound else { return }
    let position = indices.firstIndex { $0 >= bound }!
    preconditionFailure(
      "\(function): flat index \(indices[position]) at position \(position) is out of range for shape \(shape) (\(bound) elements)")
  }

  /// Row-major flat indices `i · C + indices[i]`, checking every class index is in `0..<C`.
  private static func classFlatIndices(_ indices: [Int], classCount: Int, function: String) -> [Int] {
    var flat = [Int](repeating: 0, count: indices.count)
    for (row, index) in indices.enumerated() {
      precondition(
        index >= 0 && index < classCount,
        "\(function): class index \(index) of row \(row) is out of range 0..<\(classCount)")
      flat[row] = row * classCount + index
    }
    return flat
  }
}
