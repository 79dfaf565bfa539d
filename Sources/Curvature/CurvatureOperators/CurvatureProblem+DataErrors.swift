import CurvatureNumerics
import CurvatureAutodiff
import CurvatureNN

// Messages for targets that do not fit the loss, in the terms of the whole data set: the
// targets' file, the element's flat index and its data point (a `LossError` counts within
// one batch), as the `FileFormatError`s name a file and a flat index.

extension CurvatureProblem {
  /// `error` (from validating `batch`'s targets) as one line naming the targets' source,
  /// the flat index of the bad element and its data point.
  func targetError(_ error: LossError, _ batch: Batch<Scalar>) -> String {
    let source = data.source.targets ?? "the targets"
    let range = batch.range
    // Target elements per data point: class indices per point, or values per point.
    let perPoint: Int
    switch batch.targets {
    case let .classes(classes): perPoint = classes.count / Swift.max(range.count, 1)
    case let .values(values): perPoint = values.count / Swift.max(range.count, 1)
    }
    // Per-position class targets are shaped [N, d1, …] (the outputs without class axis 1).
    let classPositionShape: [Int]? = {
      guard case .classes = batch.targets, perPoint > 1, sampleOutputShape.count > 1 else { return nil }
      return Array(sampleOutputShape.dropFirst())
    }()
    func element(_ position: Int) -> String {
      let point = range.lowerBound + position / Swift.max(perPoint, 1)
      guard let shape = classPositionShape else {
        return "flat index \(range.lowerBound * perPoint + position) (data point \(point))"
      }
      // The index within the data point, as a multi-index over [d1, …].
      var rest = position % perPoint, index = [Int](repeating: 0, count: shape.count)
      for axis in shape.indices.reversed() {
        index[axis] = rest % shape[axis]
        rest /= shape[axis]
      }
      return "flat index \(range.lowerBound * perPoint + position) (data point \(point), position \(index))"
    }
    switch error {
    case let .classOutOfRange(position, value, classes):
      return "\(source): class index \(value) at \(element(position)) is out of range for \(classes) classes (0..<\(classes)) of the model's outputs"
    case let .targetOutOfRange(position, value):
      return "\(source): BCE target \(value) at \(element(position)) is outside [0, 1]"
    case let .nonFiniteTarget(position):
      return "\(source): the target at \(element(position)) is NaN or infinite"
    case let .wrongShape(message):
      if case let .values(values) = batch.targets {
        let shape = [data.count] + values.shape.dropFirst()
        return "\(source): \(loss.kind.rawValue) needs targets shaped like the outputs, [\(data.count)] + \(sampleOutputShape), but they have shape \(shape)"
      }
      if case let .classes(classes) = batch.targets, sampleOutputShape.count >= 1 {
        let shape = [data.count] + sampleOutputShape.dropFirst()
        return "\(source): cross-entropy needs class targets shaped like the outputs [\(data.count)] + \(sampleOutputShape) without the class axis 1, \(shape) (\(shape.reduce(1, *)) in all), but data points \(range) have \(classes.count) for \(range.count) points"
      }
      return "\(source): \(message)"
    case let .wrongTargetKind(message), let .invalidOption(message):
      return "\(source): \(message)"
    default:
      return "\(source): \(error.description)"
    }
  }
}
