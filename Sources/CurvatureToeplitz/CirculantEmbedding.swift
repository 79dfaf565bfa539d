// The FFT engine behind every Toeplitz-family operator. It talks to FFTW only through the
// one internal FFT interface, `BLASScalar.makeFFTPlan` / `BLASScalar.executeFFT`.
import ComplexModule
import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
import CurvatureNumerics
#endif

/// Products with a real 1- or 2-level circulant matrix of order `m` (or `m₁m₂`), applied to
/// vectors of a smaller operator of order `n` (or `n₁n₂`) zero-padded into it.
///
/// A Toeplitz matrix `T = [t_{j−k}]` of order `n` is the leading block of the circulant `C`
/// of any order `m ≥ 2n − 1` whose first column is
/// `c = (t₀, t₁, …, t_{n−1}, 0, …, 0, t_{−(n−1)}, …, t_{−1})`. A circulant is diagonalized by
/// the discrete Fourier transform, `C = F⁻¹ diag(F c) F`, so
///
///     T x = [C (x; 0)]_{0..<n} = [F⁻¹ (F c ∘ F (x; 0))]_{0..<n}
///
/// costs two real FFTs of length `m` and `m/2 + 1` complex multiplications. The 2-level case
/// (BTTB in BCCB) pads an `n₁×n₂` array into `m₁×m₂` and uses 2-D transforms. Since `C` is
/// real, `Cᵀ` has the conjugate eigenvalues, so transposes cost the same.
///
/// The engine caches one pair of FFT plans (real-to-complex and complex-to-real) per batch
/// size; plans are created once behind a lock and executed concurrently. A batch of `k`
/// right-hand sides is transformed by batched plans (`count = k`), split into one chunk per
/// core when the batch is large.
final class CirculantEmbedding<Scalar: BLASScalar>: Sendable {
  /// The order of the circulant along each level, `m` or `[m₁, m₂]`.
  let circulantShape: [Int]
  /// The order of the embedded operator along each level, `n ≤ m` per level.
  let operatorShape: [Int]
  /// `∏ m`: real elements of one embedded vector.
  let circulantCount: Int
  /// Complex elements of one half spectrum: `∏ m[..<last] · (m_last/2 + 1)`.
  let halfCount: Int
  /// `∏ n`: the order of the operator.
  let operatorCount: Int

  private struct PlanPair: Sendable {
    let forward: FFTPlanHandle
    let inverse: FFTPlanHandle
  }
  private let plans = Mutex<[Int: PlanPair]>([:])

  /// An engine for operators of `operatorShape` inside circulants of `circulantShape`.
  /// - Precondition: One or two levels, `1 ≤ n ≤ m` on each.
  init(circulantShape: [Int], operatorShape: [Int]) {
    precondition(
      (1...2).contains(circulantShape.count) && circulantShape.count == operatorShape.count
        && zip(operatorShape, circulantShape).allSatisfy { $0 >= 1 && $0 <= $1 },
      "CirculantEmbedding: operator \(operatorShape) does not fit circulant \(circulantShape)")
    self.circulantShape = circulantShape
    self.operatorShape = operatorShape
    circulantCount = circulantShape.reduce(1, *)
    halfCount = circulantShape.dropLast().reduce(1, *) * (circulantShape.last! / 2 + 1)
    operatorCount = operatorShape.reduce(1, *)
  }

  /// An engine for Toeplitz or BTTB operators: each level padded to a fast FFT size `≥ 2n − 1`.
  convenience init(toeplitzShape: [Int]) {
    self.init(circulantShape: toeplitzShape.map { fftFriendlySize(atLeast: 2 * $0 - 1) }, operatorShape: toeplitzShape)
  }

  // MARK: Plans and transforms

  private func planPair(count: Int) -> PlanPair {
    if let cached = plans.withLock({ $0[count] }) { return cached }
    // Plan outside our lock (FFTW's planner has its own); keep the first plan if two race.
    let made = PlanPair(
      forward: Scalar.makeFFTPlan(.realToComplex, shape: circulantShape, count: count),
      inverse: Scalar.makeFFTPlan(.complexToReal, shape: circulantShape, count: count))
    return plans.withLock { cache in
      if let existing = cache[count] { return existing }
      cache[count] = made
      return made
    }
  }

  /// Executes `count` transforms, one chunk per core when the batch is large enough.
  private func execute(forward: Bool, input: UnsafeMutableRawPointer, output: UnsafeMutableRawPointer, count: Int) {
    let realStride = circulantCount * MemoryLayout<Scalar>.stride
    let complexStride = halfCount * MemoryLayout<Complex<Scalar>>.stride
    let (inStride, outStride) = forward ? (realStride, complexStride) : (complexStride, realStride)
    let chunks = count >= 2 && count * circulantCount >= 1 << 15 ? Swift.min(count, processorCount) : 1
    if chunks == 1 {
      let pair = planPair(count: count)
      Scalar.executeFFT(forward ? pair.forward : pair.inverse, input: input, output: output)
      return
    }
    let perChunk = (count + chunks - 1) / chunks
    let buffers = RawAddresses(input: input, output: output)
    DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
      let start = chunk * perChunk
      let length = Swift.min(perChunk, count - start)
      guard length > 0 else { return }
      let pair = planPair(count: length)
      Scalar.executeFFT(
        forward ? pair.forward : pair.inverse, input: buffers.input + start * inStride,
        output: buffers.output + start * outStride)
    }
  }

  /// Half spectra of `count` real arrays of `circulantCount` elements each.
  func forward(_ real: [Scalar], count: Int) -> [Complex<Scalar>] {
    precondition(real.count == count * circulantCount, "CirculantEmbedding.forward: \(real.count) elements for \(count) transforms")
    let total = count * halfCount
    guard total > 0 else { return [] }
    return [Complex<Scalar>](unsafeUninitializedCapacity: total) { output, initialized in
      // FFTW's real-to-complex transforms leave their input intact: no copy is needed.
      real.withUnsafeBytes { i in
        execute(forward: true, input: UnsafeMutableRawPointer(mutating: i.baseAddress!), output: UnsafeMutableRawPointer(output.baseAddress!), count: count)
      }
      initialized = total
    }
  }

  /// Real arrays from `count` half spectra, unnormalized (a round trip scales by `∏ m`).
  /// The spectra are consumed (FFTW's complex-to-real transforms overwrite their input).
  func inverse(_ spectra: inout [Complex<Scalar>], count: Int) -> [Scalar] {
    precondition(spectra.count == count * halfCount, "CirculantEmbedding.inverse: \(spectra.count) elements for \(count) transforms")
    let total = count * circulantCount
    guard total > 0 else { return [] }
    return [Scalar](unsafeUninitializedCapacity: total) { output, initialized in
      spectra.withUnsafeMutableBytes { i in
        execute(forward: false, input: i.baseAddress!, output: UnsafeMutableRawPointer(output.baseAddress!), count: count)
      }
      initialized = total
    }
  }

  /// The eigenvalues (half spectrum) of the circulant with the given first column, laid out
  /// row-major over `circulantShape`.
  func spectrum(ofColumn column: [Scalar]) -> [Complex<Scalar>] {
    forward(column, count: 1)
  }

  // MARK: Padding

  /// The offset in an embedded array of the start of each operator row (one row for 1
  /// level; `n₁` rows of length `n₂` for 2 levels).
  private var rows: (count: Int, length: Int, stride: Int) {
    operatorShape.count == 1
      ? (1, operatorShape[0], circulantShape[0])
      : (operatorShape[0], operatorShape[1], circulantShape[1])
  }

  /// Zero-pads the `k` columns of `x` (`[operatorCount, k]`) into `k` embedded arrays.
  func embed(_ x: NDArray<Scalar>) -> [Scalar] {
    let k = x.shape[1]
    var padded = [Scalar](repeating: 0, count: k * circulantCount)
    let (rowCount, length, stride) = rows
    let m = circulantCount
    x.withUnsafeBufferPointer { px in
      padded.withUnsafeMutableBufferPointer { pp in
        for r in 0..<rowCount {
          for i in 0..<length {
            let source = (r * length + i) * k, target = r * stride + i
            for c in 0..<k { pp[c * m + target] = px[source + c] }
          }
        }
      }
    }
    return padded
  }

  /// The operator part of `k` embedded arrays as `[operatorCount, k]`, times `scale`.
  func extract(_ padded: [Scalar], columns k: Int, scale: Scalar) -> NDArray<Scalar> {
    var result = NDArray<Scalar>(zeros: [operatorCount, k])
    let (rowCount, length, stride) = rows
    let m = circulantCount
    padded.withUnsafeBufferPointer { pp in
      result.withUnsafeMutableBufferPointer { py in
        for r in 0..<rowCount {
          for i in 0..<length {
            let target = (r * length + i) * k, source = r * stride + i
            for c in 0..<k { py[target + c] = scale * pp[c * m + source] }
          }
        }
      }
    }
    return result
  }

  // MARK: Products

  /// `[C X]` restricted to the operator block, for `X` of shape `[operatorCount, k]` and the
  /// circulant with half spectrum `spectrum` (or its transpose when `conjugate`).
  /// - Complexity: `2k` real FFTs of size `∏ m`, O(k m log m).
  func multiply(_ x: NDArray<Scalar>, by spectrum: [Complex<Scalar>], conjugate: Bool = false) -> NDArray<Scalar> {
    precondition(spectrum.count == halfCount, "CirculantEmbedding.multiply: spectrum of \(spectrum.count) for \(halfCount)")
    let k = x.shape[1]
    guard k > 0 else { return NDArray(zeros: [operatorCount, 0]) }
    var spectra = forward(embed(x), count: k)
    let h = halfCount
    spectra.withUnsafeMutableBufferPointer { ps in
      spectrum.withUnsafeBufferPointer { pl in
        for c in 0..<k {
          let base = c * h
          if conjugate {
            for j in 0..<h { ps[base + j] = ps[base + j] * pl[j].conjugate }
          } else {
            for j in 0..<h { ps[base + j] = ps[base + j] * pl[j] }
          }
        }
      }
    }
    let padded = inverse(&spectra, count: k)
    return extract(padded, columns: k, scale: 1 / Scalar(circulantCount))
  }
}

/// Raw addresses handed to concurrent FFT chunks, which write disjoint parts.
private struct RawAddresses: @unchecked Sendable {
  let input: UnsafeMutableRawPointer
  let output: UnsafeMutableRawPointer
}

/// The number of online processors (at least 1).
let processorCount: Int = Swift.max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))

/// A fast FFT size: FFTW transforms sizes with small prime factors fastest.
/// - Parameter n: The least acceptable size.
/// - Returns: The smallest `m ≥ n` whose prime factors are 2, 3, 5 and 7 only.
/// - Complexity: O(log⁴ n) candidates.
public func fftFriendlySize(atLeast n: Int) -> Int {
  guard n > 1 else { return 1 }
  var best = Int.max
  var p2 = 1
  while p2 < 2 * n {
    var p3 = p2
    while p3 < 2 * n {
      var p5 = p3
      while p5 < 2 * n {
        var p7 = p5
        while p7 < n { p7 *= 7 }
        best = Swift.min(best, p7)
        p5 *= 5
      }
      p3 *= 3
    }
    p2 *= 2
  }
  return best
}
