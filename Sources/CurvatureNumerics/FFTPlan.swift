import ComplexModule

/// A reusable plan for real-data FFTs of a fixed shape: forward real-to-complex and
/// inverse complex-to-real transforms of `count` arrays at once.
///
/// The spectrum keeps only the non-redundant half along the last axis (`n/2 + 1` entries),
/// as FFTW, NumPy's `rfftn` and PyTorch's `rfftn` do. The inverse is unnormalized: a round
/// trip multiplies by the number of elements of one transform.
///
/// A plan is created once (serialized behind a lock) and may be executed concurrently
/// from many threads.
///
/// ```swift
/// let plan = RealFFTPlan<Double>(shape: [8])
/// let spectrum = plan.forward([1, 2, 3, 4, 0, 0, 0, 0])     // 5 complex numbers
/// let back = plan.inverse(spectrum).map { $0 / 8 }           // the input again
/// ```
public final class RealFFTPlan<Scalar: BLASScalar>: Sendable {
  /// The shape of one real array.
  public let shape: [Int]
  /// How many arrays one call transforms.
  public let count: Int
  let forwardPlan: FFTPlanHandle
  let inversePlan: FFTPlanHandle

  /// Plans transforms of `count` contiguous real arrays of the given shape.
  /// - Parameters:
  ///   - shape: Extents of one array (rank ≥ 1, each ≥ 1), last axis fastest.
  ///   - count: Number of arrays stored one after another.
  /// - Complexity: Planning with FFTW_ESTIMATE; O(n log n) per executed transform.
  public init(shape: [Int], count: Int = 1) {
    self.shape = shape
    self.count = count
    forwardPlan = Scalar.makeFFTPlan(.realToComplex, shape: shape, count: count)
    inversePlan = Scalar.makeFFTPlan(.complexToReal, shape: shape, count: count)
  }

  /// Real elements of all `count` arrays.
  public var realCount: Int { forwardPlan.realCount }
  /// Complex elements of all `count` half spectra.
  public var spectrumCount: Int { forwardPlan.complexCount }

  /// Transforms real data to half spectra.
  public func forward(_ input: UnsafeBufferPointer<Scalar>, into output: UnsafeMutableBufferPointer<Complex<Scalar>>) {
    precondition(input.count >= realCount && output.count >= spectrumCount,
                 "RealFFTPlan.forward: buffers of \(input.count) and \(output.count) elements for \(realCount) → \(spectrumCount)")
    // FFTW's r2c does not modify its input; the mutable pointer is only its C signature.
    Scalar.executeFFT(
      forwardPlan, input: UnsafeMutableRawPointer(mutating: input.baseAddress!),
      output: UnsafeMutableRawPointer(output.baseAddress!))
  }

  /// Transforms half spectra back to real data (unnormalized). The input is left intact.
  public func inverse(_ input: UnsafeBufferPointer<Complex<Scalar>>, into output: UnsafeMutableBufferPointer<Scalar>) {
    precondition(input.count >= spectrumCount && output.count >= realCount,
                 "RealFFTPlan.inverse: buffers of \(input.count) and \(output.count) elements for \(spectrumCount) → \(realCount)")
    // c2r overwrites its input, so it runs on a private copy.
    var scratch = Array(input.prefix(spectrumCount))
    scratch.withUnsafeMutableBufferPointer { s in
      Scalar.executeFFT(inversePlan, input: UnsafeMutableRawPointer(s.baseAddress!), output: UnsafeMutableRawPointer(output.baseAddress!))
    }
  }

  /// Transforms real data to half spectra.
  public func forward(_ input: [Scalar]) -> [Complex<Scalar>] {
    [Complex<Scalar>](unsafeUninitializedCapacity: spectrumCount) { out, initialized in
      input.withUnsafeBufferPointer { forward($0, into: out) }
      initialized = spectrumCount
    }
  }

  /// Transforms half spectra back to real data (unnormalized).
  public func inverse(_ input: [Complex<Scalar>]) -> [Scalar] {
    [Scalar](unsafeUninitializedCapacity: realCount) { out, initialized in
      input.withUnsafeBufferPointer { inverse($0, into: out) }
      initialized = realCount
    }
  }
}

/// A reusable plan for complex FFTs of a fixed shape, forward (`e^{-2πi jk/n}`) and
/// backward (`e^{+2πi jk/n}`, unnormalized), of `count` arrays at once.
public final class ComplexFFTPlan<Scalar: BLASScalar>: Sendable {
  /// The shape of one array.
  public let shape: [Int]
  /// How many arrays one call transforms.
  public let count: Int
  let forwardPlan: FFTPlanHandle
  let backwardPlan: FFTPlanHandle

  /// Plans transforms of `count` contiguous complex arrays of the given shape.
  /// - Complexity: O(n log n) per executed transform.
  public init(shape: [Int], count: Int = 1) {
    self.shape = shape
    self.count = count
    forwardPlan = Scalar.makeFFTPlan(.complexForward, shape: shape, count: count)
    backwardPlan = Scalar.makeFFTPlan(.complexBackward, shape: shape, count: count)
  }

  /// Complex elements of all `count` arrays.
  public var elementCount: Int { forwardPlan.complexCount }

  /// The forward transform; `input` and `output` must not overlap.
  public func forward(_ input: UnsafeBufferPointer<Complex<Scalar>>, into output: UnsafeMutableBufferPointer<Complex<Scalar>>) {
    run(forwardPlan, input, output)
  }

  /// The backward (inverse, unnormalized) transform; `input` and `output` must not overlap.
  public func backward(_ input: UnsafeBufferPointer<Complex<Scalar>>, into output: UnsafeMutableBufferPointer<Complex<Scalar>>) {
    run(backwardPlan, input, output)
  }

  /// The forward transform.
  public func forward(_ input: [Complex<Scalar>]) -> [Complex<Scalar>] { run(forwardPlan, input) }

  /// The backward (inverse, unnormalized) transform.
  public func backward(_ input: [Complex<Scalar>]) -> [Complex<Scalar>] { run(backwardPlan, input) }

  private func run(_ plan: FFTPlanHandle, _ input: UnsafeBufferPointer<Complex<Scalar>>, _ output: UnsafeMutableBufferPointer<Complex<Scalar>>) {
    precondition(input.count >= elementCount && output.count >= elementCount,
                 "ComplexFFTPlan: buffers of \(input.count) and \(output.count) elements for \(elementCount)")
    Scalar.executeFFT(plan, input: UnsafeMutableRawPointer(mutating: input.baseAddress!), output: UnsafeMutableRawPointer(output.baseAddress!))
  }

  private func run(_ plan: FFTPlanHandle, _ input: [Complex<Scalar>]) -> [Complex<Scalar>] {
    [Complex<Scalar>](unsafeUninitializedCapacity: elementCount) { out, initialized in
      input.withUnsafeBufferPointer { run(plan, $0, out) }
      initialized = elementCount
    }
  }
}
