// The only file that calls FFTW. Plans are created and destroyed behind one lock (FFTW's
// planner is not thread-safe); executing a plan on new arrays is thread-safe, so one plan
// serves many threads. Plans are made with FFTW_ESTIMATE (fast, deterministic, arrays left
// untouched) and FFTW_UNALIGNED (so they run on any Swift array).
import CFFTW
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// An FFT plan of the active backend (FFTW): created by `BLASScalar.makeFFTPlan`, executed
/// by `BLASScalar.executeFFT`, destroyed when the last reference goes.
public final class FFTPlanHandle: @unchecked Sendable {
  // Safe to share: FFTW's new-array execute functions are thread-safe, and creation and
  // destruction go through `FFTW.planner`.
  let pointer: OpaquePointer
  let isDouble: Bool
  /// The transform this plan computes.
  public let kind: FFTKind
  /// The shape of one transform (its real shape for real transforms).
  public let shape: [Int]
  /// How many transforms one execution computes, laid out one after another.
  public let count: Int

  init(pointer: OpaquePointer, isDouble: Bool, kind: FFTKind, shape: [Int], count: Int) {
    self.pointer = pointer
    self.isDouble = isDouble
    self.kind = kind
    self.shape = shape
    self.count = count
  }

  /// Real elements of one batch of real data (input of `.realToComplex`).
  public var realCount: Int { shape.reduce(1, *) * count }

  /// Complex elements of one batch of spectra: the half spectrum for real transforms.
  public var complexCount: Int {
    switch kind {
    case .realToComplex, .complexToReal:
      return shape.dropLast().reduce(1, *) * (shape.last! / 2 + 1) * count
    case .complexForward, .complexBackward:
      return shape.reduce(1, *) * count
    }
  }

  deinit {
    let (p, double) = (pointer, isDouble)
    FFTW.planner.withLock { _ in
      if double { fftw_destroy_plan(p) } else { fftwf_destroy_plan(p) }
    }
  }
}

enum FFTW {
  static let planner = Mutex(())
  static let flags = UInt32(FFTW_ESTIMATE) | UInt32(FFTW_UNALIGNED)

  static func validate(_ shape: [Int], _ count: Int) -> [Int32] {
    precondition(!shape.isEmpty && shape.allSatisfy { $0 >= 1 } && count >= 1,
                 "FFT plan: shape \(shape) and count \(count) must be positive")
    return shape.map { value in
      precondition(value <= Int(Int32.max), "FFT plan: size \(value) exceeds Int32")
      return Int32(value)
    }
  }

  static func plan(_ kind: FFTKind, shape: [Int], count: Int, double: Bool) -> FFTPlanHandle {
    let n = validate(shape, count)
    let realDistance = shape.reduce(1, *)
    let halfDistance = shape.dropLast().reduce(1, *) * (shape.last! / 2 + 1)
    let complexDistance = kind == .complexForward || kind == .complexBackward ? realDistance : halfDistance
    let scalarSize = double ? 8 : 4
    // Scratch arrays for planning only: FFTW_ESTIMATE never reads or writes them.
    let inBytes = (kind == .realToComplex ? realDistance : 2 * complexDistance) * count * scalarSize
    let outBytes = (kind == .complexToReal ? realDistance : 2 * complexDistance) * count * scalarSize
    let input = UnsafeMutableRawPointer.allocate(byteCount: max(inBytes, 16), alignment: 64)
    let output = UnsafeMutableRawPointer.allocate(byteCount: max(outBytes, 16), alignment: 64)
    defer { input.deallocate(); output.deallocate() }
    let rank = Int32(shape.count), howMany = Int32(count)
    let rd = Int32(realDistance), cd = Int32(complexDistance)
    // The plan crosses the lock as an address: `OpaquePointer` is not `Sendable`.
    let address: Int = planner.withLock { _ in
      n.withUnsafeBufferPointer { dims -> Int in
        let plan: OpaquePointer?
        if double {
          let r = input.assumingMemoryBound(to: Double.self)
          let c = input.assumingMemoryBound(to: fftw_complex.self)
          let ro = output.assumingMemoryBound(to: Double.self)
          let co = output.assumingMemoryBound(to: fftw_complex.self)
          switch kind {
          case .realToComplex:
            plan = fftw_plan_many_dft_r2c(rank, dims.baseAddress, howMany, r, nil, 1, rd, co, nil, 1, cd, flags)
          case .complexToReal:
            plan = fftw_plan_many_dft_c2r(rank, dims.baseAddress, howMany, c, nil, 1, cd, ro, nil, 1, rd, flags)
          case .complexForward, .complexBackward:
            plan = fftw_plan_many_dft(
              rank, dims.baseAddress, howMany, c, nil, 1, cd, co, nil, 1, cd,
              kind == .complexForward ? FFTW_FORWARD : FFTW_BACKWARD, flags)
          }
        } else {
          let r = input.assumingMemoryBound(to: Float.self)
          let c = input.assumingMemoryBound(to: fftwf_complex.self)
          let ro = output.assumingMemoryBound(to: Float.self)
          let co = output.assumingMemoryBound(to: fftwf_complex.self)
          switch kind {
          case .realToComplex:
            plan = fftwf_plan_many_dft_r2c(rank, dims.baseAddress, howMany, r, nil, 1, rd, co, nil, 1, cd, flags)
          case .complexToReal:
            plan = fftwf_plan_many_dft_c2r(rank, dims.baseAddress, howMany, c, nil, 1, cd, ro, nil, 1, rd, flags)
          case .complexForward, .complexBackward:
            plan = fftwf_plan_many_dft(
              rank, dims.baseAddress, howMany, c, nil, 1, cd, co, nil, 1, cd,
              kind == .complexForward ? FFTW_FORWARD : FFTW_BACKWARD, flags)
          }
        }
        return Int(bitPattern: plan)
      }
    }
    guard let made = OpaquePointer(bitPattern: address) else {
      preconditionFailure("FFTW could not plan a \(kind) transform of shape \(shape) × \(count)")
    }
    return FFTPlanHandle(pointer: made, isDouble: double, kind: kind, shape: shape, count: count)
  }

  static func execute(
    _ plan: FFTPlanHandle, input: UnsafeMutableRawPointer, output: UnsafeMutableRawPointer,
    double: Bool
  ) {
    precondition(plan.isDouble == double, "FFT plan of the other precision")
    precondition(input != output, "FFT plans are out-of-place: input and output must differ")
    if double {
      switch plan.kind {
      case .realToComplex:
        fftw_execute_dft_r2c(plan.pointer, input.assumingMemoryBound(to: Double.self),
                             output.assumingMemoryBound(to: fftw_complex.self))
      case .complexToReal:
        fftw_execute_dft_c2r(plan.pointer, input.assumingMemoryBound(to: fftw_complex.self),
                             output.assumingMemoryBound(to: Double.self))
      case .complexForward, .complexBackward:
        fftw_execute_dft(plan.pointer, input.assumingMemoryBound(to: fftw_complex.self),
                         output.assumingMemoryBound(to: fftw_complex.self))
      }
    } else {
      switch plan.kind {
      case .realToComplex:
        fftwf_execute_dft_r2c(plan.pointer, input.assumingMemoryBound(to: Float.self),
                              output.assumingMemoryBound(to: fftwf_complex.self))
      case .complexToReal:
        fftwf_execute_dft_c2r(plan.pointer, input.assumingMemoryBound(to: fftwf_complex.self),
                              output.assumingMemoryBound(to: Float.self))
      case .complexForward, .complexBackward:
        fftwf_execute_dft(plan.pointer, input.assumingMemoryBound(to: fftwf_complex.self),
                          output.assumingMemoryBound(to: fftwf_complex.self))
      }
    }
  }

  /// FFTW's version string, e.g. `fftw-3.3.10`.
  static var version: String {
    // `fftw_version` is a C array of unknown size, which Swift cannot import; look it up.
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "fftw_version") else { return "fftw-3" }
    return String(cString: symbol.assumingMemoryBound(to: CChar.self))
  }
}
