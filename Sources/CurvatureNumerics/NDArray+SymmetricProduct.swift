import CCurvatureKernels
import Dispatch
import Foundation
import Synchronization

// The product of a few rows with a large symmetric matrix (issue 17): the KFAC matvec of a
// layer with many inputs and few outputs, `(G V) A` with `A` the input factor. gemm reads
// the whole of `A` once per product and, with few rows, spends its time packing it: on the
// compare.py CNN, `[10, 8193] × [8193, 8193]` ran at 14–17% of the gemm peak in OpenBLAS
// and PyTorch alike. The C kernel (CCurvatureKernels) reads only the upper triangle, each
// element once for both of its positions, in blocks that stay in cache between the two
// uses. It needs AVX2 and FMA; without them, or for other shapes, this is one gemm.

extension NumericsBackend {
  private static let symmetricKernelWanted = Atomic<Bool>(symmetricKernelDefault)

  /// On unless the environment variable `CURVATURE_SYMMETRIC_KERNEL` is `0`.
  private static var symmetricKernelDefault: Bool {
    guard let value = getenv("CURVATURE_SYMMETRIC_KERNEL") else { return true }
    return String(cString: value) != "0"
  }

  /// Whether the processor has AVX2 and FMA (and the system saves their registers).
  package static let hasAVX2FMA: Bool = curvature_cpu_has_avx2_fma() != 0

  /// Whether `matmulSymmetric` may use its kernel that reads half the symmetric matrix
  /// (on processors with AVX2 and FMA, for few rows and a large matrix).
  ///
  /// On by default. Set it to false, or set the environment variable
  /// `CURVATURE_SYMMETRIC_KERNEL=0`, to always use gemm. The two paths sum in different
  /// orders, so their last bits differ; each is deterministic.
  public static var usesSymmetricKernel: Bool {
    get { symmetricKernelWanted.load(ordering: .relaxed) }
    set { symmetricKernelWanted.store(newValue, ordering: .relaxed) }
  }
}

/// At most this many rows take the symmetric kernel (one group of its accumulators); with
/// more, each element of the matrix serves enough of them for gemm to run near its peak.
/// Two threads, `[m, n] × [n, n]` float32, n = 8193: the kernel 15 ms against gemm's 45 at
/// m = 10 and 17 against 53 at m = 12, but 26 against 27 at m = 16 and 88 against 61 at
/// m = 64.
package let symmetricKernelMaxRows = 12
/// The smallest order of the symmetric matrix that takes the kernel (4 MiB of Float): below
/// it the matrix stays in cache and gemm's packing costs little.
package let symmetricKernelMinOrder = 1024

/// The matrix product `a s` of rows `a` `[m, n]` and a symmetric matrix `s` `[n, n]`.
///
/// For few rows and a large `s` on a processor with AVX2 and FMA (and
/// `NumericsBackend.usesSymmetricKernel` on), a kernel of its own reads only the upper
/// triangle of `s` (with the diagonal), each element once for both of its positions, and
/// does not pack it: with few rows, gemm spends its time packing all of `s`. Otherwise one
/// gemm, the same as `matmul(a, s)`.
///
/// The kernel splits the work into two lanes (alternate blocks of 64 rows of `s`), run on
/// two threads when `threads` allows, and adds the lanes' results in lane order: the same
/// bits for any thread count. It sums in another order than gemm, so the two paths differ
/// in the last bits.
/// - Parameters:
///   - a: The rows, `[m, n]`.
///   - s: The symmetric matrix `[n, n]`. Only its upper triangle is read on the kernel
///     path, all of it by gemm: a matrix that is not symmetric gives different results on
///     the two paths.
///   - threads: Threads for the kernel's two lanes (default: the BLAS thread count).
/// - Returns: `a s`, `[m, n]`.
/// - Precondition: `a` is `[m, n]` and `s` is `[n, n]`.
/// - Complexity: `2·m·n²` flops; the kernel reads `n²/2` elements of `s` once.
@_specialize(where T == Float)
@_specialize(where T == Double)
public func matmulSymmetric<T: BLASScalar>(
  _ a: NDArray<T>, _ s: NDArray<T>, threads: Int = NumericsBackend.threadCount
) -> NDArray<T> {
  precondition(
    a.rank == 2 && s.rank == 2 && s.shape[0] == s.shape[1] && a.shape[1] == s.shape[0],
    "matmulSymmetric: shapes \(a.shape) and \(s.shape) are not [m, n] and [n, n]")
  guard NumericsBackend.usesSymmetricKernel, a.shape[0] <= symmetricKernelMaxRows, a.shape[1] >= symmetricKernelMinOrder,
    let product = symmetricProductKernel(a, s, threads: threads)
  else { return matmul(a, s) }
  return product
}

/// `a s` by the C kernel, whatever the shapes; nil when it cannot run here (no AVX2/FMA, or
/// a scalar type other than Float and Double). The tests call it on small shapes.
/// - Precondition: `a` is `[m, n]` and `s` is `[n, n]` (checked by the caller).
package func symmetricProductKernel<T: BLASScalar>(_ a: NDArray<T>, _ s: NDArray<T>, threads: Int) -> NDArray<T>? {
  guard NumericsBackend.hasAVX2FMA, T.self == Float.self || T.self == Double.self else { return nil }
  let (m, n) = (a.shape[0], a.shape[1])
  var result = NDArray<T>(zeros: [m, n])
  guard m > 0, n > 0 else { return result }
  // Two lanes always (the order of every sum depends on it); the second has blocks of rows
  // of `s` only when there are two or more, and its partial sums go to `second`.
  let lanes = 2, busy = n > Int(CURVATURE_SYMMETRIC_BLOCK_ROWS) ? 2 : 1
  var second = NDArray<T>(zeros: busy == 2 ? [m, n] : [0])
  a.withUnsafeBufferPointer { x in
    s.withUnsafeBufferPointer { sm in
      result.withUnsafeMutableBufferPointer { c0 in
        second.withUnsafeMutableBufferPointer { c1 in
          // Addresses are Sendable; the lanes write disjoint arrays.
          let (xa, sa) = (UInt(bitPattern: x.baseAddress), UInt(bitPattern: sm.baseAddress))
          let outputs = [UInt(bitPattern: c0.baseAddress), UInt(bitPattern: c1.baseAddress)]
          if threads >= 2 && busy == 2 {
            // OpenBLAS's workers, spinning after a multi-threaded call, would take a core.
            NumericsBackend.withSingleThreadedBLAS { _ in
              DispatchQueue.concurrentPerform(iterations: busy) { lane in
                runSymmetricLane(T.self, x: xa, s: sa, c: outputs[lane], m: m, n: n, lane: lane, lanes: lanes)
              }
            }
          } else {
            for lane in 0..<busy {
              runSymmetricLane(T.self, x: xa, s: sa, c: outputs[lane], m: m, n: n, lane: lane, lanes: lanes)
            }
          }
        }
      }
    }
  }
  if busy == 2 { result.add(second) }
  return result
}

/// One lane of the kernel on raw addresses, in the precision of `T`.
private func runSymmetricLane<T: BLASScalar>(
  _: T.Type, x: UInt, s: UInt, c: UInt, m: Int, n: Int, lane: Int, lanes: Int
) {
  if T.self == Float.self {
    curvature_symmetric_right_product_f32(
      UnsafePointer(bitPattern: x), n, UnsafePointer(bitPattern: s), n, UnsafeMutablePointer(bitPattern: c), n,
      m, n, lane, lanes)
  } else {
    curvature_symmetric_right_product_f64(
      UnsafePointer(bitPattern: x), n, UnsafePointer(bitPattern: s), n, UnsafeMutablePointer(bitPattern: c), n,
      m, n, lane, lanes)
  }
}

extension NDArray {
  /// Whether this is a square matrix equal to its transpose bit for bit (`-0` and `+0`
  /// differ; a NaN matches only the same NaN), compared in tiles.
  /// - Complexity: O(n²) comparisons, none after the first difference.
  package func isSymmetricToTheBit() -> Bool {
    guard rank == 2, shape[0] == shape[1] else { return false }
    let n = shape[0], tile = 64
    return withUnsafeBufferPointer { m in
      for i0 in stride(from: 0, to: n, by: tile) {
        for j0 in stride(from: i0, to: n, by: tile) {
          for i in i0..<Swift.min(i0 + tile, n) {
            let (start, end) = (Swift.max(j0, i + 1), Swift.min(j0 + tile, n))
            guard start < end else { continue }
            for j in start..<end where !sameBits(m[i * n + j], m[j * n + i]) { return false }
          }
        }
      }
      return true
    }
  }
}

/// Whether two floating-point values have the same bits.
@inline(__always)
private func sameBits<S: BinaryFloatingPoint>(_ a: S, _ b: S) -> Bool {
  a.sign == b.sign && a.exponentBitPattern == b.exponentBitPattern && a.significandBitPattern == b.significandBitPattern
}
