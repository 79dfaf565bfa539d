import Curvature
import CurvatureTestSupport
import Testing

/// `RandomGenerator`: reproducibility, independent streams, and the distributions of its
/// draws. Statistical checks allow 5 standard errors, so a correct generator fails with
/// probability below 1e-6 (and the seeds are fixed, so the outcome is deterministic).
@Suite struct RandomGeneratorTests {
  @Test func sameSeedSameSequence() {
    var a = RandomGenerator(seed: 1234), b = RandomGenerator(seed: 1234)
    let first = (0..<100).map { _ in a.next() }
    #expect(first == (0..<100).map { _ in b.next() })
    #expect(a == b)
    // Mixed draws stay in step too (including the cached Box-Muller spare).
    var c = RandomGenerator(seed: 99, stream: 5), d = RandomGenerator(seed: 99, stream: 5)
    for _ in 0..<50 {
      #expect(c.normal() == d.normal())
      #expect(c.uniform() == d.uniform())
      #expect(c.integer(below: 17) == d.integer(below: 17))
    }
  }

  @Test func differentStreamsAndSeedsDiffer() {
    func prefix(_ seed: UInt64, _ stream: UInt64) -> [UInt64] {
      var rng = RandomGenerator(seed: seed, stream: stream)
      return (0..<8).map { _ in rng.next() }
    }
    let sequences = [prefix(7, 0), prefix(7, 1), prefix(7, 2), prefix(8, 0), prefix(8, 1), prefix(0, 0), prefix(0, 1)]
    #expect(Set(sequences.map { $0.description }).count == sequences.count, "all sequences distinct")
    // Not merely shifted: the first value of one stream does not appear early in another.
    #expect(!prefix(7, 1).contains(prefix(7, 0)[0]))
    // The default stream is stream 0.
    var implicit = RandomGenerator(seed: 7)
    #expect((0..<8).map { _ in implicit.next() } == prefix(7, 0))
  }

  @Test func normalMomentsFloat() { checkNormalMoments(Float.self) }
  @Test func normalMomentsDouble() { checkNormalMoments(Double.self) }
  @Test func rademacherFloat() { checkRademacher(Float.self) }
  @Test func rademacherDouble() { checkRademacher(Double.self) }
  @Test func uniformFloat() { checkUniform(Float.self) }
  @Test func uniformDouble() { checkUniform(Double.self) }

  @Test func floatAndDoubleSeeTheSameDraws() {
    var a = RandomGenerator(seed: 5), b = RandomGenerator(seed: 5)
    let single: NDArray<Float> = a.normalArray(shape: [100])
    let double: NDArray<Double> = b.normalArray(shape: [100])
    #expect(single == double.converted(to: Float.self))
  }

  @Test func integerBelowIsInRangeAndUniform() {
    var rng = RandomGenerator(seed: 31)
    let bound = 7, draws = 70_000
    var counts = [Int](repeating: 0, count: bound)
    var outOfRange = 0
    for _ in 0..<draws {
      let value = rng.integer(below: bound)
      if value >= 0 && value < bound { counts[value] += 1 } else { outOfRange += 1 }
    }
    #expect(outOfRange == 0)
    // Each count is Binomial(draws, 1/7).
    let p = 1.0 / Double(bound)
    let mean = Double(draws) * p, sd = (Double(draws) * p * (1 - p)).squareRoot()
    for (value, count) in counts.enumerated() {
      #expect(abs(Double(count) - mean) < 5 * sd, "value \(value) drawn \(count) times, expected \(mean) ± \(sd)")
    }
    // Bound 1 always gives 0; a huge non-power-of-two bound stays in range.
    #expect((0..<100).allSatisfy { _ in rng.integer(below: 1) == 0 })
    let huge = Int.max / 3 * 2
    let hugeDraws = (0..<1000).map { _ in rng.integer(below: huge) }
    #expect(hugeDraws.allSatisfy { $0 >= 0 && $0 < huge })
    #expect(hugeDraws.contains { $0 > huge / 2 } && hugeDraws.contains { $0 < huge / 2 })
  }

  @Test func permutationIsAPermutation() {
    var rng = RandomGenerator(seed: 41)
    for n in [0, 1, 2, 10, 100] {
      let p = rng.permutation(n)
      #expect(p.sorted() == Array(0..<n), "permutation of \(n): \(p)")
    }
    // Shuffles: over many draws of 4 elements every position sees every value, and not
    // every result is the identity.
    var seen = Set<[Int]>()
    var firstValues = Set<Int>()
    for _ in 0..<200 {
      let p = rng.permutation(4)
      seen.insert(p)
      firstValues.insert(p[0])
    }
    #expect(firstValues == [0, 1, 2, 3])
    #expect(seen.count == 24, "all 24 permutations of 4 should occur in 200 draws; saw \(seen.count)")
  }

  @Test func bernoulliAndCategorical() {
    var rng = RandomGenerator(seed: 51)
    let draws = 20_000
    let successes = (0..<draws).filter { _ in rng.bernoulli(0.3) }.count
    let sd = (Double(draws) * 0.3 * 0.7).squareRoot()
    #expect(abs(Double(successes) - 0.3 * Double(draws)) < 5 * sd)
    let weights: [Double] = [1, 0, 3]
    var counts = [0, 0, 0]
    weights.withUnsafeBufferPointer { w in
      for _ in 0..<draws { counts[rng.categorical(weights: w)] += 1 }
    }
    #expect(counts[1] == 0, "zero weight drawn")
    let sd2 = (Double(draws) * 0.25 * 0.75).squareRoot()
    #expect(abs(Double(counts[0]) - 0.25 * Double(draws)) < 5 * sd2)
  }
}

private func checkNormalMoments<T: BLASScalar & TestTolerance>(_: T.Type) {
  var rng = RandomGenerator(seed: 2024)
  let n = 100_000
  let sample: NDArray<T> = rng.normalArray(shape: [n])
  let values = sample.scalars.map(Double.init)
  let mean = values.reduce(0, +) / Double(n)
  let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n - 1)
  // Standard errors: of the mean 1/√n, of the sample variance √(2/n) for a normal.
  #expect(abs(mean) < 5 / Double(n).squareRoot(), "mean \(mean)")
  #expect(abs(variance - 1) < 5 * (2 / Double(n)).squareRoot(), "variance \(variance)")
  // Symmetry and tails: about 4.55% of draws lie beyond ±2.
  let beyond2 = Double(values.filter { abs($0) > 2 }.count) / Double(n)
  let p = 0.0455
  #expect(abs(beyond2 - p) < 5 * (p * (1 - p) / Double(n)).squareRoot(), "fraction beyond ±2: \(beyond2)")
  // Scalar draws come from the same distribution.
  let scalarMean = (0..<n).reduce(0.0) { acc, _ in acc + Double(rng.normal(T.self)) } / Double(n)
  #expect(abs(scalarMean) < 5 / Double(n).squareRoot(), "scalar mean \(scalarMean)")
}

private func checkRademacher<T: BLASScalar & TestTolerance>(_: T.Type) {
  var rng = RandomGenerator(seed: 77)
  let n = 100_000
  let sample: NDArray<T> = rng.rademacherArray(shape: [n])
  #expect(sample.scalars.allSatisfy { $0 == 1 || $0 == -1 })
  let mean = sample.scalars.reduce(0.0) { $0 + Double($1) } / Double(n)
  #expect(abs(mean) < 5 / Double(n).squareRoot(), "mean \(mean)")
  var scalars = Set<T>()
  for _ in 0..<100 { scalars.insert(rng.rademacher(T.self)) }
  #expect(scalars == [1, -1])
}

private func checkUniform<T: BLASScalar & TestTolerance>(_: T.Type) {
  var rng = RandomGenerator(seed: 88)
  let n = 100_000
  var sum = 0.0, below = 0, outOfRange = 0
  for _ in 0..<n {
    let u = rng.uniform()
    let t = rng.uniform(T.self)
    if !(u >= 0 && u < 1) || !(t >= 0 && t < 1) { outOfRange += 1 }
    sum += u
    if u < 0.25 { below += 1 }
  }
  #expect(outOfRange == 0)
  // Mean 1/2 with standard error √(1/12n); P(u < 1/4) = 1/4.
  #expect(abs(sum / Double(n) - 0.5) < 5 * (1 / (12 * Double(n))).squareRoot())
  #expect(abs(Double(below) / Double(n) - 0.25) < 5 * (0.25 * 0.75 / Double(n)).squareRoot())
  let shifted: NDArray<T> = rng.uniformArray(shape: [10_000], in: -2..<3)
  #expect(shifted.scalars.allSatisfy { $0 >= -2 && $0 < 3 })
  let shiftedMean = shifted.scalars.reduce(0.0) { $0 + Double($1) } / 10_000
  #expect(abs(shiftedMean - 0.5) < 5 * 5 / (12 * 10_000.0).squareRoot())
}
