import Foundation
import Synchronization
import CurvatureNumerics
import CurvatureNN

// The linearization cache (issue 17, "Cache the linearization"): GGN, Fisher and Hessian
// products of a `Sequential` need, per batch (row chunk), the layers' values and the
// activations' derivatives of one nonlinear forward pass. They do not depend on the
// product's vector, the operator or the selected blocks, only on the parameters and the
// inputs, so a solver doing many products on the same data (Lanczos, CG, Hutch++) can
// keep them and skip the forward pass on every further product.
//
// An entry is used only when both the inputs of the chunk and every parameter are the same
// bits as when it was made (a data set that returns other data, or other weights, make a
// new one), so a cached product is the same computation on the same arrays as an uncached
// one: the same bits.

/// The forward passes (`SequentialLinearization`) of a problem's row chunks, within a byte
/// budget, shared by the problem's copies and the operators built on it.
final class LinearizationCache<Scalar: BLASScalar>: Sendable {
  private struct Entry {
    let inputs: NDArray<Scalar>
    let parameters: [NDArray<Scalar>]
    let linearization: SequentialLinearization<Scalar>
    let bytes: Int
  }
  private struct State {
    var entries: [Range<Int>: Entry] = [:]
    var bytes = 0
  }
  private let state = Mutex(State())
  /// The most bytes of layer values and derivatives held.
  let budget: Int

  init(budget: Int) { self.budget = Swift.max(0, budget) }

  /// The bytes held now.
  var bytes: Int { state.withLock { $0.bytes } }

  /// Forgets every entry.
  func removeAll() { state.withLock { $0 = State() } }

  /// The forward pass of `sequential` on `inputs` (data points `range`): the held one when
  /// its inputs and parameters are the same bits, else a new one, held when it fits in the
  /// budget (replacing a stale entry of the same range).
  func linearization(
    _ sequential: Sequential<Scalar>, inputs: NDArray<Scalar>, range: Range<Int>, enabled: Bool
  ) -> SequentialLinearization<Scalar> {
    guard enabled, budget > 0 else { return SequentialLinearization(sequential, inputs: inputs) }
    if let entry = state.withLock({ $0.entries[range] }),
      sameBits(entry.inputs, inputs), entry.parameters.count == sequential.parameters.count,
      zip(entry.parameters, sequential.parameters).allSatisfy({ sameBits($0, $1) })
    {
      return entry.linearization
    }
    let made = SequentialLinearization(sequential, inputs: inputs)
    let size =
      (made.values.reduce(0) { $0 + $1.count } + made.derivatives.reduce(0) { $0 + ($1?.count ?? 0) }) * MemoryLayout<Scalar>.stride
    state.withLock { state in
      let stale = state.entries[range]?.bytes ?? 0
      guard size <= budget - (state.bytes - stale) else { return }
      state.entries[range] = Entry(inputs: inputs, parameters: sequential.parameters, linearization: made, bytes: size)
      state.bytes += size - stale
    }
    return made
  }
}

/// Whether two arrays have the same shape and the same bits (`memcmp`: NaN payloads and
/// signed zeros count, and no generic per-element code runs).
func sameBits<T: BLASScalar>(_ a: NDArray<T>, _ b: NDArray<T>) -> Bool {
  guard a.shape == b.shape else { return false }
  guard a.count > 0 else { return true }
  return a.withUnsafeBufferPointer { x in
    b.withUnsafeBufferPointer { y in
      x.baseAddress == y.baseAddress || memcmp(x.baseAddress!, y.baseAddress!, a.count * MemoryLayout<T>.stride) == 0
    }
  }
}
