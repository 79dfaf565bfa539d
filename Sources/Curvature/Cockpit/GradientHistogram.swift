import CurvatureNumerics

/// cockpit's `GradHist1d`: a histogram of the elements of every individual gradient of a
/// minibatch (Schneider, Dangel & Hennig 2021, NeurIPS, the "gradient elements" panel).
///
/// Edge rule (cockpit clamps, then calls `torch.histc`): values are clipped to
/// `[lower, upper]`; `x` falls in bin `⌊(x − lower) · bins / (upper − lower)⌋`, and `upper`
/// itself in the last bin. The edges are `torch.linspace(lower, upper, bins + 1)`.
public struct GradientHistogram1d: Sendable, Hashable {
  /// The counts per bin, `bins` of them, summing to `B · P`.
  public var counts: [Int]
  /// The `bins + 1` bin edges.
  public var edges: [Double]

  /// cockpit's defaults: 100 bins on [−2, 2].
  public static let defaultBins = 100
  /// cockpit's default range.
  public static let defaultRange: ClosedRange<Double> = -2...2

  /// The histogram of the elements of `individualGradients` (`[B, P]`, any layout).
  /// - Parameters:
  ///   - individualGradients: `[B, P]`, the minibatch's individual gradients.
  ///   - bins: The number of bins, positive.
  ///   - range: The bin range; values outside are clipped into the outer bins.
  public init<T: BLASScalar>(individualGradients: NDArray<T>, bins: Int = defaultBins, range: ClosedRange<Double> = defaultRange) {
    let (lower, upper) = (range.lowerBound, range.upperBound)
    var counts = [Int](repeating: 0, count: bins)
    let width = upper - lower
    for value in individualGradients.scalars {
      let x = Swift.min(Swift.max(Double(value), lower), upper)
      var bin = Int((x - lower) * Double(bins) / width)
      if bin == bins { bin -= 1 }
      counts[bin] += 1
    }
    self.counts = counts
    self.edges = torchLinspace(lower, upper, bins + 1)
  }

  /// `{"hist": [counts], "edges": [edges]}`, cockpit's output layout.
  public var jsonObject: JSONValue {
    .object(["hist": .array(counts.map { .number(Double($0)) }), "edges": .array(edges.map { .number($0) })])
  }
}

/// cockpit's `GradHist2d`: a 2d histogram of individual gradient elements (x) against the
/// value of the parameter they belong to (y), over every data point of the minibatch.
///
/// Edge rule (cockpit's `histogram2d`): both coordinates are clipped to
/// `[lower + w/2, upper − w/2]` (`w` the bin width), then binned by
/// `⌊(x − lower) / w⌋` (truncation). Edges are `torch.linspace` on each axis.
public struct GradientHistogram2d: Sendable, Hashable {
  /// The counts, `[xBins][yBins]` (rows: gradient bins, columns: parameter bins); they sum
  /// to `B · P`.
  public var counts: [[Int]]
  /// The `xBins + 1` gradient bin edges.
  public var xEdges: [Double]
  /// The `yBins + 1` parameter bin edges.
  public var yEdges: [Double]

  /// cockpit's defaults: 40 gradient bins, 50 parameter bins.
  public static let defaultBins = (x: 40, y: 50)
  /// cockpit's default ranges: gradients in [−1, 1], parameters in [−2, 2].
  public static let defaultRanges: (x: ClosedRange<Double>, y: ClosedRange<Double>) = (-1...1, -2...2)

  /// The histogram of `individualGradients` (`[B, P]`) against `parameters` (`[P]`, the
  /// flat parameter vector at which they were evaluated).
  /// - Precondition: `individualGradients.count` is a multiple of `parameters.count`.
  public init<T: BLASScalar>(
    individualGradients: NDArray<T>, parameters: NDArray<T>,
    bins: (x: Int, y: Int) = defaultBins, ranges: (x: ClosedRange<Double>, y: ClosedRange<Double>) = defaultRanges
  ) {
    let p = parameters.count
    precondition(p > 0 && individualGradients.count % p == 0, "GradientHistogram2d: \(individualGradients.shape) gradients for \(p) parameters")
    let xWidth = (ranges.x.upperBound - ranges.x.lowerBound) / Double(bins.x)
    let yWidth = (ranges.y.upperBound - ranges.y.lowerBound) / Double(bins.y)
    func bin(_ value: Double, _ range: ClosedRange<Double>, _ width: Double) -> Int {
      let clipped = Swift.min(Swift.max(value, range.lowerBound + width / 2), range.upperBound - width / 2)
      return Int((clipped - range.lowerBound) / width)
    }
    let yBins = parameters.scalars.map { bin(Double($0), ranges.y, yWidth) }
    var flat = [Int](repeating: 0, count: bins.x * bins.y)
    for (k, value) in individualGradients.scalars.enumerated() {
      flat[bin(Double(value), ranges.x, xWidth) * bins.y + yBins[k % p]] += 1
    }
    counts = (0..<bins.x).map { Array(flat[($0 * bins.y)..<(($0 + 1) * bins.y)]) }
    xEdges = torchLinspace(ranges.x.lowerBound, ranges.x.upperBound, bins.x + 1)
    yEdges = torchLinspace(ranges.y.lowerBound, ranges.y.upperBound, bins.y + 1)
  }

  /// `{"hist": [[counts]], "edges": [[x edges], [y edges]]}`, cockpit's output layout.
  public var jsonObject: JSONValue {
    .object([
      "hist": .array(counts.map { .array($0.map { .number(Double($0)) }) }),
      "edges": .array([.array(xEdges.map { .number($0) }), .array(yEdges.map { .number($0) })]),
    ])
  }

  public static func == (a: GradientHistogram2d, b: GradientHistogram2d) -> Bool {
    a.counts == b.counts && a.xEdges == b.xEdges && a.yEdges == b.yEdges
  }

  public func hash(into hasher: inout Hasher) {
    hasher.combine(counts)
    hasher.combine(xEdges)
    hasher.combine(yEdges)
  }
}

/// `torch.linspace(start, end, steps)` in double precision: the first half counts up from
/// `start`, the second half down from `end`, so both ends are exact.
func torchLinspace(_ start: Double, _ end: Double, _ steps: Int) -> [Double] {
  guard steps > 1 else { return [start] }
  let step = (end - start) / Double(steps - 1)
  let half = steps / 2
  return (0..<steps).map { i in i < half ? start + step * Double(i) : end - step * Double(steps - i - 1) }
}
