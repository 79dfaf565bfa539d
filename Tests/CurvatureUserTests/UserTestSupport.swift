import Curvature

// Checks shared by the documentation's snippet tests. This target sees only the public API
// (`import Curvature`, no @testable, no CurvatureTestSupport), as a user's package does.

/// The largest absolute entrywise difference of two arrays of one shape.
func maxAbsDifference<T: BLASScalar>(_ a: NDArray<T>, _ b: NDArray<T>) -> Double {
  precondition(a.shape == b.shape, "shapes \(a.shape) and \(b.shape) differ")
  return zip(a.scalars, b.scalars).map { Double(abs($0 - $1)) }.max() ?? 0
}

/// The largest absolute entry of an array.
func maxAbs<T: BLASScalar>(_ a: NDArray<T>) -> Double {
  a.scalars.map { Double(abs($0)) }.max() ?? 0
}

/// Whether `a` equals `b` to `tolerance` relative to `b`'s largest entry.
func isClose<T: BLASScalar>(_ a: NDArray<T>, _ b: NDArray<T>, tolerance: Double) -> Bool {
  maxAbsDifference(a, b) <= tolerance * max(maxAbs(b), 1e-30)
}
