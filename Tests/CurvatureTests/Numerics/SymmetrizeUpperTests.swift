import Curvature
import CurvatureTestSupport
import Testing

/// `symmetrizeUpper` (the mirror after a KFAC factor's `?syrk`): the scaled upper triangle
/// in both triangles, exactly, for orders below, at and across the 64-row tiles, with the
/// lower triangle's old values (NaN here) never read, and the same bits on any number of
/// threads (600² elements pass the 1 MiB at which the tile rows are split).
@Suite struct SymmetrizeUpperTests {
  static let orders = [1, 2, 63, 64, 65, 130, 600]

  static func check<T: BLASScalar>(_: T.Type) {
    var rng = RandomGenerator(seed: 5)
    let scale = T(0.37)
    for n in orders {
      let upper: NDArray<T> = rng.normalArray(shape: [n, n])
      var results = [[T]]()
      for threads in [1, 2, 3] {
        var m = upper.scalars
        for i in 0..<n { for j in 0..<i { m[i * n + j] = .nan } }
        m.withUnsafeMutableBufferPointer { symmetrizeUpper($0.baseAddress!, n: n, scale: scale, threads: threads) }
        var exact = true
        for i in 0..<n {
          for j in i..<n {
            let expected = upper.scalars[i * n + j] * scale
            exact = exact && m[i * n + j] == expected && m[j * n + i] == expected
          }
        }
        #expect(exact, "\(T.self) n = \(n), \(threads) threads: not the scaled upper triangle in both triangles")
        results.append(m)
      }
      #expect(results.allSatisfy { $0 == results[0] }, "\(T.self) n = \(n): the bits depend on the threads")
    }
  }

  @Test func mirrorsTheScaledUpperTriangleInFloat() { Self.check(Float.self) }

  @Test func mirrorsTheScaledUpperTriangleInDouble() { Self.check(Double.self) }
}
