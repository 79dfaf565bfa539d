import Curvature
import CurvatureTestSupport
import Testing

/// `matmulSymmetric` and its kernel (CCurvatureKernels): `a s` for a symmetric `s` read
/// only through its upper triangle. Against a Double reference with a componentwise error
/// bound for shapes across the kernel's groups of rows (8, 4, 2, 1), its 64-row blocks,
/// its 256-column blocks and its vector widths; with NaN in the lower triangle (never
/// read); the same bits on one or two threads; and the dispatch between kernel and gemm.
@Suite struct SymmetricProductTests {
  static let rows = [1, 2, 3, 5, 8, 9, 10, 13, 17]
  static let orders = [1, 2, 7, 8, 9, 63, 64, 65, 129, 257, 330]

  /// A symmetric `[n, n]` matrix.
  static func symmetric<T: BLASScalar>(_ n: Int, _ rng: inout RandomGenerator) -> NDArray<T> {
    let g: NDArray<T> = rng.normalArray(shape: [n, n])
    return NDArray(shape: [n, n]) { g[$0[0], $0[1]] + g[$0[1], $0[0]] }
  }

  /// Whether `c` is `a s` within `4·n·ε·(|a||s|)` per element, summed in Double.
  static func matchesReference<T: BLASScalar>(_ c: NDArray<T>, _ a: NDArray<T>, _ s: NDArray<T>) -> Bool {
    let (m, n) = (a.shape[0], a.shape[1])
    let epsilon = Double(T.ulpOfOne)
    for r in 0..<m {
      for j in 0..<n {
        var exact = 0.0, magnitude = 0.0
        for k in 0..<n {
          exact += Double(a[r, k]) * Double(s[k, j])
          magnitude += abs(Double(a[r, k]) * Double(s[k, j]))
        }
        if abs(Double(c[r, j]) - exact) > 4 * Double(n) * epsilon * magnitude + Double(T.leastNormalMagnitude) {
          return false
        }
      }
    }
    return true
  }

  static func checkKernel<T: BLASScalar>(_: T.Type) throws {
    guard NumericsBackend.hasAVX2FMA else {
      #expect(symmetricProductKernel(NDArray<T>(zeros: [1, 1]), NDArray<T>(zeros: [1, 1]), threads: 1) == nil)
      return
    }
    var rng = RandomGenerator(seed: 17)
    for n in orders {
      let s: NDArray<T> = symmetric(n, &rng)
      // The strict lower triangle replaced by NaN: the kernel must not read it.
      var upper = s
      for i in 0..<n { for j in 0..<i { upper[i, j] = .nan } }
      for m in rows {
        let a: NDArray<T> = rng.normalArray(shape: [m, n])
        let c = try #require(symmetricProductKernel(a, s, threads: 1))
        #expect(c.shape == [m, n])
        #expect(matchesReference(c, a, s), "\(T.self) m = \(m), n = \(n): not a·s within the error bound")
        #expect(try #require(symmetricProductKernel(a, upper, threads: 1)) == c, "\(T.self) m = \(m), n = \(n): read the lower triangle")
        #expect(try #require(symmetricProductKernel(a, s, threads: 2)) == c, "\(T.self) m = \(m), n = \(n): bits depend on the threads")
      }
    }
  }

  @Test func kernelIsTheProductInFloat() throws { try Self.checkKernel(Float.self) }

  @Test func kernelIsTheProductInDouble() throws { try Self.checkKernel(Double.self) }

  /// Empty shapes give empty or zero products.
  @Test func emptyShapes() throws {
    guard NumericsBackend.hasAVX2FMA else { return }
    let none = try #require(symmetricProductKernel(NDArray<Double>(zeros: [0, 5]), NDArray<Double>(zeros: [5, 5]), threads: 2))
    #expect(none.shape == [0, 5])
    let zero = try #require(symmetricProductKernel(NDArray<Double>(zeros: [3, 0]), NDArray<Double>(zeros: [0, 0]), threads: 2))
    #expect(zero.shape == [3, 0])
  }

  /// Few rows and a large matrix take the kernel (with AVX2 and FMA), everything else gemm,
  /// bit for bit `matmul`; with `usesSymmetricKernel` off, always gemm.
  @Test func dispatch() throws {
    var rng = RandomGenerator(seed: 19)
    let n = symmetricKernelMinOrder + 3
    let s: NDArray<Float> = Self.symmetric(n, &rng)
    let few: NDArray<Float> = rng.normalArray(shape: [3, n])
    let expected = NumericsBackend.hasAVX2FMA ? try #require(symmetricProductKernel(few, s, threads: 2)) : matmul(few, s)
    #expect(matmulSymmetric(few, s, threads: 2) == expected)
    let many: NDArray<Float> = rng.normalArray(shape: [symmetricKernelMaxRows + 1, n])
    #expect(matmulSymmetric(many, s, threads: 2) == matmul(many, s))
    let small: NDArray<Float> = Self.symmetric(symmetricKernelMinOrder - 1, &rng)
    let rowsOfSmall: NDArray<Float> = rng.normalArray(shape: [3, symmetricKernelMinOrder - 1])
    #expect(matmulSymmetric(rowsOfSmall, small) == matmul(rowsOfSmall, small))
  }

  /// Bitwise symmetry: a symmetric matrix, one entry off by one ulp, `-0` against `+0`, a
  /// rectangle.
  @Test func symmetryToTheBit() {
    var rng = RandomGenerator(seed: 23)
    var s: NDArray<Double> = Self.symmetric(70, &rng)
    #expect(s.isSymmetricToTheBit())
    s[65, 3] = s[3, 65].nextUp
    #expect(!s.isSymmetricToTheBit())
    s[65, 3] = s[3, 65]
    (s[2, 9], s[9, 2]) = (0, -0.0)
    #expect(!s.isSymmetricToTheBit())
    #expect(!NDArray<Double>(zeros: [2, 3]).isSymmetricToTheBit())
  }
}
