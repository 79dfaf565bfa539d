import Curvature
import CurvatureTestSupport
import Testing

/// PCG iteration counts for classical symbols (b = ones, x₀ = 0, relative residual 1e-7) at
/// three sizes, printed as a table. Preconditioned counts must stay bounded (1 level) or grow
/// far slower than unpreconditioned CG (2 levels).
///
/// Debug builds use smaller sizes; `swift test -c release` runs the full sizes.
@Suite struct ToeplitzIterationTableTests {
  #if DEBUG
  static let sizes1 = [64, 256, 1024]
  static let sizes2 = [16, 32, 64]
  #else
  static let sizes1 = [256, 1024, 4096]
  static let sizes2 = [32, 64, 128]
  #endif

  /// An iteration count, or why there is none.
  enum Count: CustomStringConvertible {
    case converged(Int)
    case capped(Int)
    case indefinite
    case notApplicable

    var description: String {
      switch self {
      case let .converged(k): return "\(k)"
      case let .capped(k): return ">\(k)"
      case .indefinite: return "indef"
      case .notApplicable: return "—"
      }
    }
    var value: Int? { if case let .converged(k) = self { return k } else { return nil } }
  }

  static func pcg(_ a: any LinearOperator<Double>, _ m: () throws -> (any LinearOperator<Double>)?) -> Count {
    let preconditioner: (any LinearOperator<Double>)?
    do { preconditioner = try m() } catch { return .indefinite }
    let cap = Swift.max(200, 2 * a.rowCount)
    let b = NDArray<Double>(repeating: 1, shape: [a.rowCount])
    guard let result = try? conjugateGradient(a, b, preconditioner: preconditioner, options: .init(relativeTolerance: 1e-7, maxIterations: cap)) else {
      return .indefinite
    }
    switch result.outcome {
    case .converged: return .converged(result.iterations)
    case .maxIterationsReached: return .capped(cap)
    default: return .indefinite
    }
  }

  static func table(_ title: String, _ header: [String], _ rows: [[String]]) -> String {
    let widths = header.indices.map { c in ([header] + rows).map { $0[c].count }.max()! }
    func line(_ cells: [String]) -> String {
      "| " + cells.enumerated().map { c, cell in String(repeating: " ", count: widths[c] - cell.count) + cell }.joined(separator: " | ") + " |"
    }
    return ([title, line(header), "|" + widths.map { String(repeating: "-", count: $0 + 1) + ":" }.joined(separator: "|") + "|"] + rows.map(line)).joined(separator: "\n")
  }

  struct Symbol1: Sendable {
    let name: String
    let coefficient: @Sendable (Int) -> Double
    let function: (@Sendable (Double) -> Double)?
    let estimateIGF: Bool
    let band: Bool
  }

  static let symbols1: [Symbol1] = [
    Symbol1(name: "θ⁴ + 1", coefficient: ClassicalSymbols.quarticPlusOne, function: { Double.pow($0, 4) + 1 }, estimateIGF: false, band: false),
    Symbol1(name: "2 − 2cos θ + 0.01", coefficient: ClassicalSymbols.shiftedLaplacian, function: { 2.01 - 2 * Double.cos($0) }, estimateIGF: false, band: false),
    Symbol1(name: "(1 + |k|)^−1.1", coefficient: ClassicalSymbols.powerDecay, function: nil, estimateIGF: true, band: false),
    Symbol1(name: "Gaussian + 0.01", coefficient: ClassicalSymbols.gaussian, function: nil, estimateIGF: true, band: false),
    Symbol1(name: "θ²", coefficient: ClassicalSymbols.quadratic, function: nil, estimateIGF: false, band: true),
    Symbol1(name: "θ⁴", coefficient: ClassicalSymbols.quartic, function: nil, estimateIGF: false, band: true),
  ]

  @Test func oneLevelTable() throws {
    let kinds: [CirculantApproximation] = [.strang, .tChan, .rChan, .superoptimal]
    var rows = [[String]]()
    for symbol in Self.symbols1 {
      var counts = [[Count]]()
      for n in Self.sizes1 {
        let t = try ToeplitzOperator(symmetric: ClassicalSymbols.column(n, symbol.coefficient))
        var row = [Self.pcg(t) { nil }]
        for kind in kinds { row.append(Self.pcg(t) { try CirculantOperator.preconditioner(for: t, kind) }) }
        if let f = symbol.function {
          row.append(Self.pcg(t) { try InverseSymbolPreconditioner<Double>(size: n, symbol: f) })
        } else if symbol.estimateIGF {
          row.append(Self.pcg(t) { try InverseSymbolPreconditioner(estimatingFrom: t) })
        } else {
          row.append(.notApplicable)
        }
        row.append(symbol.band ? Self.pcg(t) { try BandToeplitzPreconditioner(fitting: t) } : .notApplicable)
        counts.append(row)
        rows.append([symbol.name, "\(n)"] + row.map(\.description))
      }
      // Bounded preconditioned counts: the symbol's own preconditioner (T[1/f], or the band
      // one for symbols with a zero) converges in few iterations at every size. In exact
      // arithmetic the bound is independent of n; with θ⁴ (condition number ~n⁴) rounding
      // adds a few iterations per size, hence the slack.
      let best = symbol.band ? 6 : 5
      let first = try #require(counts.first![best].value, "\(symbol.name): preconditioned PCG did not converge")
      let last = try #require(counts.last![best].value, "\(symbol.name): preconditioned PCG did not converge")
      #expect(last <= first + Swift.max(3, first / 2) && last <= 40, "\(symbol.name): preconditioned counts \(counts.map { $0[best] })")
      if let plain = counts.last![0].value { #expect(last < plain, "\(symbol.name)") }
    }
    print(Self.table(
      "PCG iterations, 1 level (b = ones, x₀ = 0, relative residual 1e-7):",
      ["symbol", "n", "none", "Strang", "T. Chan", "R. Chan", "superopt.", "T[1/f]", "band"], rows))
  }

  struct Symbol2: Sendable {
    let name: String
    let generator: @Sendable (Int) -> (Int, Int) -> Double
    let function: (@Sendable (Double, Double) -> Double)?
  }

  /// x² + y² + 0.01, and a grid Gaussian process: RBF kernel `exp(−‖Δ‖²/(2ℓ²))` with length
  /// scale ℓ = 3 grid steps plus a nugget 0.01 (a stationary field seen through growing windows).
  static let symbols2: [Symbol2] = [
    Symbol2(
      name: "x² + y² + 0.01",
      generator: { _ in { p, q in
        (q == 0 ? ClassicalSymbols.quadratic(p) : 0) + (p == 0 ? ClassicalSymbols.quadratic(q) : 0) + (p == 0 && q == 0 ? 0.01 : 0)
      } },
      function: { x, y in x * x + y * y + 0.01 }),
    Symbol2(
      name: "grid GP (RBF + 0.01)",
      generator: { n in { p, q in
        let ell = 3.0
        return Double.exp(-Double(p * p + q * q) / (2 * ell * ell)) + (p == 0 && q == 0 ? 0.01 : 0)
      } },
      function: nil),
  ]

  @Test func twoLevelTable() throws {
    var rows = [[String]]()
    for symbol in Self.symbols2 {
      var counts = [[Count]]()
      for n in Self.sizes2 {
        let a = try BTTBOperator<Double>(blockCount: n, blockSize: n, coefficient: symbol.generator(n))
        let row: [Count] = [
          Self.pcg(a) { nil },
          Self.pcg(a) { try BCCBOperator.preconditioner(for: a, .strang) },
          Self.pcg(a) { try BCCBOperator.preconditioner(for: a, .tChan) },
          Self.pcg(a) { try LevelOnePreconditioner(for: a, .tChan) },
          Self.pcg(a) {
            if let f = symbol.function { return try BTTBInverseSymbolPreconditioner<Double>(blockCount: n, blockSize: n, symbol: f) }
            return try BTTBInverseSymbolPreconditioner(estimatingFrom: a)
          },
          Self.pcg(a) { try KroneckerApproximation.preconditioner(for: a, rank: 2) },
        ]
        counts.append(row)
        rows.append([symbol.name, "\(n)×\(n)"] + row.map(\.description))
      }
      // Far slower growth than unpreconditioned CG: at the largest size each of T. Chan
      // (level 1 and 2), T[1/f] and Kronecker needs at most half the plain count, and grows
      // by a smaller factor.
      let plainFirst = try #require(counts.first![0].value), plainLast = try #require(counts.last![0].value)
      for column in [2, 3, 4, 5] {
        let first = try #require(counts.first![column].value, "\(symbol.name) column \(column)")
        let last = try #require(counts.last![column].value, "\(symbol.name) column \(column)")
        #expect(2 * last <= plainLast, "\(symbol.name) column \(column): \(last) vs \(plainLast)")
        #expect(Double(last) / Double(first) < Double(plainLast) / Double(plainFirst), "\(symbol.name) column \(column) grows")
      }
    }
    print(Self.table(
      "PCG iterations, 2 levels (b = ones, x₀ = 0, relative residual 1e-7):",
      ["symbol", "grid", "none", "BCCB Strang", "BCCB T. Chan", "level-1 T. Chan", "T[1/f]", "Kronecker r=2"], rows))
  }
}
