/// A seeded, reproducible pseudo-random generator: xoshiro256** seeded through SplitMix64.
///
/// Every random method in Curvature takes one of these (or a seed that makes one), so the
/// same seed gives the same result on every run and platform. Values are drawn in `Double`
/// and rounded, so Float and Double computations from one seed see the same numbers.
///
/// `stream` selects an independent sequence for the same seed: curvature operators key it
/// by data-point index, so Monte Carlo samples do not depend on the batch size.
///
/// ```swift
/// var rng = RandomGenerator(seed: 42)
/// let v: NDArray<Float> = rng.rademacherArray(shape: [100])
/// let z: NDArray<Double> = rng.normalArray(shape: [3, 4])
/// ```
public struct RandomGenerator: RandomNumberGenerator, Sendable, Hashable {
  private var state: (UInt64, UInt64, UInt64, UInt64)
  private var spareNormal: Double?

  /// Creates a generator for a seed and an optional stream index.
  /// - Parameters:
  ///   - seed: Any 64-bit value; equal seeds give equal sequences.
  ///   - stream: Selects an independent sequence for the same seed (default 0).
  public init(seed: UInt64, stream: UInt64 = 0) {
    var mixer = SplitMix64(state: seed ^ (stream &* 0x9E37_79B9_7F4A_7C15) ^ (stream == 0 ? 0 : 0xD1B5_4A32_D192_ED03))
    state = (mixer.next(), mixer.next(), mixer.next(), mixer.next())
    spareNormal = nil
  }

  /// Whether two generators are in the same state (produce the same numbers from here on).
  public static func == (lhs: RandomGenerator, rhs: RandomGenerator) -> Bool {
    lhs.state == rhs.state && lhs.spareNormal == rhs.spareNormal
  }

  /// Hashes the generator's state.
  public func hash(into hasher: inout Hasher) {
    hasher.combine(state.0)
    hasher.combine(state.1)
    hasher.combine(state.2)
    hasher.combine(state.3)
  }

  /// The next 64 random bits (xoshiro256**).
  public mutating func next() -> UInt64 {
    let result = rotate(state.1 &* 5, 7) &* 9
    let t = state.1 << 17
    state.2 ^= state.0
    state.3 ^= state.1
    state.1 ^= state.2
    state.0 ^= state.3
    state.2 ^= t
    state.3 = rotate(state.3, 45)
    return result
  }

  @inline(__always)
  private func rotate(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

  /// A uniform draw from [0, 1) with 53 random bits.
  public mutating func uniform() -> Double {
    Double(next() >> 11) * 0x1.0p-53
  }

  /// A uniform draw from [0, 1) in the requested precision (never rounds up to 1).
  public mutating func uniform<T: BLASScalar>(_: T.Type = T.self) -> T {
    let value = T(uniform())
    return value < 1 ? value : T(1).nextDown
  }

  /// A standard normal draw (Box-Muller in Double, pairs cached).
  public mutating func normal() -> Double {
    if let spare = spareNormal {
      spareNormal = nil
      return spare
    }
    // 1 - u lies in (0, 1], so the logarithm is finite.
    let u1 = 1 - uniform(), u2 = uniform()
    let radius = (-2 * Double.log(u1)).squareRoot()
    let angle = 2 * Double.pi * u2
    spareNormal = radius * Double.sin(angle)
    return radius * Double.cos(angle)
  }

  /// A standard normal draw in the requested precision.
  public mutating func normal<T: BLASScalar>(_: T.Type = T.self) -> T { T(normal()) }

  /// A Rademacher draw: +1 or −1 with equal probability.
  public mutating func rademacher<T: BLASScalar>(_: T.Type = T.self) -> T {
    next() >> 63 == 0 ? 1 : -1
  }

  /// A uniform integer in `0..<bound` without modulo bias (Lemire's method).
  public mutating func integer(below bound: Int) -> Int {
    precondition(bound > 0, "RandomGenerator.integer(below:): bound \(bound) must be positive")
    let range = UInt64(bound)
    var product = next().multipliedFullWidth(by: range)
    if product.low < range {
      let threshold = (0 &- range) % range
      while product.low < threshold { product = next().multipliedFullWidth(by: range) }
    }
    return Int(product.high)
  }

  /// True with probability `p` (clamped to [0, 1]).
  public mutating func bernoulli(_ p: Double) -> Bool { uniform() < p }

  /// An index drawn with the given (non-negative, not necessarily normalized) weights.
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public mutating func categorical<T: BLASScalar>(weights: UnsafeBufferPointer<T>) -> Int {
    var total = 0.0
    for w in weights { total += Double(w) }
    precondition(total > 0 && total.isFinite, "categorical: weights must have a positive, finite sum")
    let target = uniform() * total
    var cumulative = 0.0
    for (index, w) in weights.enumerated() {
      cumulative += Double(w)
      if target < cumulative { return index }
    }
    // Rounding left the target at the very top: take the last index with positive weight.
    return weights.lastIndex { $0 > 0 } ?? weights.count - 1
  }

  /// A uniformly random permutation of `0..<n` (Fisher-Yates with this generator).
  public mutating func permutation(_ n: Int) -> [Int] {
    var result = Array(0..<n)
    for i in stride(from: n - 1, to: 0, by: -1) { result.swapAt(i, integer(below: i + 1)) }
    return result
  }

  /// An array of independent standard normal draws.
  public mutating func normalArray<T: BLASScalar>(shape: [Int], _: T.Type = T.self) -> NDArray<T> {
    let count = NDArray<T>.elementCount(shape)
    var scalars = [T]()
    scalars.reserveCapacity(count)
    for _ in 0..<count { scalars.append(normal(T.self)) }
    return NDArray(shape: shape, scalars: scalars)
  }

  /// An array of independent Rademacher (±1) draws.
  public mutating func rademacherArray<T: BLASScalar>(shape: [Int], _: T.Type = T.self) -> NDArray<T> {
    let count = NDArray<T>.elementCount(shape)
    var scalars = [T]()
    scalars.reserveCapacity(count)
    for _ in 0..<count { scalars.append(rademacher(T.self)) }
    return NDArray(shape: shape, scalars: scalars)
  }

  /// An array of independent uniform draws from `[lower, upper)`.
  public mutating func uniformArray<T: BLASScalar>(
    shape: [Int], in range: Range<Double> = 0..<1, _: T.Type = T.self
  ) -> NDArray<T> {
    let count = NDArray<T>.elementCount(shape)
    var scalars = [T]()
    scalars.reserveCapacity(count)
    for _ in 0..<count {
      scalars.append(T(range.lowerBound + (range.upperBound - range.lowerBound) * uniform()))
    }
    return NDArray(shape: shape, scalars: scalars)
  }
}

/// SplitMix64, used only to expand a seed into xoshiro's state.
struct SplitMix64 {
  var state: UInt64
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
