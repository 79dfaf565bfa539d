import Curvature
import CurvatureTestSupport
import Testing

/// Derivatives of the broadcasting arithmetic `+ - * /`, `maximum`, `minimum` and negation,
/// in every broadcasting pattern, through `DerivativeCheck`.
@Suite struct ArithmeticDerivativeTests {
  /// Operand shapes covering each broadcasting pattern.
  static let patterns: [BroadcastPattern] = [
    BroadcastPattern([3, 4], [3, 4]),
    BroadcastPattern([3, 4], [4]),
    BroadcastPattern([4], [3, 4]),
    BroadcastPattern([3, 4], [3, 1]),
    BroadcastPattern([3, 1], [3, 4]),
    BroadcastPattern([3, 4], [1, 4]),
    BroadcastPattern([3, 1], [1, 4]),
    BroadcastPattern([3, 4], []),
    BroadcastPattern([], [3, 4]),
    BroadcastPattern([2, 3, 4], [4]),
    BroadcastPattern([4], [2, 3, 4]),
    BroadcastPattern([2, 1, 4], [3, 1]),
    BroadcastPattern([], []),
  ]

  static let operators: [ArithmeticOperator] = [.add, .subtract, .multiply, .divide]

  @Test(arguments: operators, patterns)
  func arithmetic(_ op: ArithmeticOperator, _ pattern: BroadcastPattern) {
    let a = DerivativeCheck.normal(pattern.a, seed: 11)
    // Denominators stay away from zero.
    let b = op == .divide ? DerivativeCheck.awayFromZero(pattern.b, seed: 12) : DerivativeCheck.normal(pattern.b, seed: 12)
    DerivativeCheck.check("\(op) \(pattern)", at: [a, b]) { x in op.apply(x[0], x[1]) }
  }

  /// The same tensor as both operands (`x ∘ x`), so both pullbacks reach one leaf.
  @Test(arguments: operators)
  func arithmeticWithItself(_ op: ArithmeticOperator) {
    let a = op == .divide ? DerivativeCheck.awayFromZero([3, 2], seed: 13) : DerivativeCheck.normal([3, 2], seed: 13)
    // x / x is constant; compose with exp so the result still varies.
    DerivativeCheck.check("\(op) self", at: [a]) { x in op.apply(x[0], x[0]) + x[0].exp() }
  }

  /// One operand is a constant: only one input has a pullback and a tangent, and the
  /// tangent of the broadcast operand must be stretched to the result's shape.
  @Test(arguments: operators, [BroadcastPattern([4], [3, 4]), BroadcastPattern([3, 4], [3, 1]), BroadcastPattern([], [2, 3])])
  func arithmeticWithOneConstantOperand(_ op: ArithmeticOperator, _ pattern: BroadcastPattern) {
    let a = DerivativeCheck.normal(pattern.a, seed: 15)
    let b = op == .divide ? DerivativeCheck.awayFromZero(pattern.b, seed: 16) : DerivativeCheck.normal(pattern.b, seed: 16)
    DerivativeCheck.check("\(op) \(pattern), left varies", at: [a]) { x in op.apply(x[0], Tensor(b)) }
    let a2 = op == .divide ? DerivativeCheck.awayFromZero(pattern.a, seed: 17) : a
    let b2 = DerivativeCheck.normal(pattern.b, seed: 18)
    // For division the constant is the numerator here: keep the varying denominator away from 0.
    let right = op == .divide ? DerivativeCheck.awayFromZero(pattern.b, seed: 18) : b2
    DerivativeCheck.check("\(op) \(pattern), right varies", at: [right]) { x in op.apply(Tensor(a2), x[0]) }
  }

  @Test(arguments: [ArithmeticOperator.maximum, .minimum], patterns)
  func extremum(_ op: ArithmeticOperator, _ pattern: BroadcastPattern) throws {
    // Operands whose broadcast pairs differ by at least 0.05 (away from ties).
    let (a, b) = try #require(separatedOperands(pattern), "no separated operands for \(pattern)")
    DerivativeCheck.check("\(op) \(pattern)", at: [a, b]) { x in op.apply(x[0], x[1]) }
  }

  /// Ties send the whole derivative to the left operand, as documented.
  @Test(arguments: [ArithmeticOperator.maximum, .minimum])
  func extremumTiesGoLeft(_ op: ArithmeticOperator) {
    let a = Tensor<Double>(NDArray([1, 2, 3]))
    let b = Tensor<Double>(NDArray([1, 0, 5]))
    let grads = gradient(at: [a, b]) { x in (op.apply(x[0], x[1]) * Tensor(NDArray([1, 10, 100]))).sum() }
    let expectedA: [Double] = op == .maximum ? [1, 10, 0] : [1, 0, 100]
    let expectedB: [Double] = op == .maximum ? [0, 0, 100] : [0, 10, 0]
    #expect(grads[0].value.scalars == expectedA)
    #expect(grads[1].value.scalars == expectedB)
    // The JVP uses the same masks.
    let t = jvp(at: [a, b], tangents: [Tensor(NDArray([1, 1, 1])), Tensor(NDArray([2, 2, 2]))]) { x in
      op.apply(x[0], x[1])
    }.tangent
    #expect(t.value.scalars == (op == .maximum ? [1, 1, 2] : [1, 2, 1]))
  }

  @Test func scalarOperandsAndNegation() {
    let a = DerivativeCheck.awayFromZero([2, 3], seed: 14)
    DerivativeCheck.check("x + 2", at: [a]) { x in x[0] + 2 }
    DerivativeCheck.check("2 + x", at: [a]) { x in 2 + x[0] }
    DerivativeCheck.check("x - 0.5", at: [a]) { x in x[0] - 0.5 }
    DerivativeCheck.check("0.5 - x", at: [a]) { x in 0.5 - x[0] }
    DerivativeCheck.check("x * 3", at: [a]) { x in x[0] * 3 }
    DerivativeCheck.check("-1.5 * x", at: [a]) { x in -1.5 * x[0] }
    DerivativeCheck.check("x / 4", at: [a]) { x in x[0] / 4 }
    DerivativeCheck.check("3 / x", at: [a]) { x in 3 / x[0] }
    DerivativeCheck.check("-x", at: [a]) { x in -x[0] }
    DerivativeCheck.check("-(x * x)", at: [a]) { x in -(x[0] * x[0]) }
  }

  @Test func arithmeticValues() {
    let a = Tensor<Double>(NDArray(rows: [[1, 2], [3, 4]]))
    let b = Tensor<Double>(NDArray([10, -2]))
    #expect((a + b).value == NDArray(rows: [[11, 0], [13, 2]]))
    #expect((a - b).value == NDArray(rows: [[-9, 4], [-7, 6]]))
    #expect((a * b).value == NDArray(rows: [[10, -4], [30, -8]]))
    #expect((a / b).value == NDArray(rows: [[0.1, -1], [0.3, -2]]))
    #expect(Tensor.maximum(a, b).value == NDArray(rows: [[10, 2], [10, 4]]))
    #expect(Tensor.minimum(a, b).value == NDArray(rows: [[1, -2], [3, -2]]))
    #expect((-a).value == NDArray(rows: [[-1, -2], [-3, -4]]))
  }

  /// Operands of `pattern` whose broadcast pairs all differ by at least 0.05, from the first
  /// seed that gives them.
  private func separatedOperands(_ pattern: BroadcastPattern) -> (NDArray<Double>, NDArray<Double>)? {
    for seed in UInt64(20)..<UInt64(120) {
      let a = DerivativeCheck.normal(pattern.a, seed: seed)
      let b = DerivativeCheck.normal(pattern.b, seed: seed + 1000)
      let gap = NDArray.binary(.subtract, a, b).map(.abs).scalars.min() ?? 0
      if gap >= 0.05 { return (a, b) }
    }
    return nil
  }
}

extension ArithmeticDerivativeTests {
  /// The shapes of two broadcasting operands.
  struct BroadcastPattern: Sendable, CustomTestStringConvertible, CustomStringConvertible {
    let a: [Int]
    let b: [Int]
    init(_ a: [Int], _ b: [Int]) {
      self.a = a
      self.b = b
    }
    var description: String { "\(a) with \(b)" }
    var testDescription: String { description }
  }

  /// The binary tensor operators under test.
  enum ArithmeticOperator: String, Sendable, CustomTestStringConvertible {
    case add, subtract, multiply, divide, maximum, minimum

    func apply(_ a: Tensor<Double>, _ b: Tensor<Double>) -> Tensor<Double> {
      switch self {
      case .add: a + b
      case .subtract: a - b
      case .multiply: a * b
      case .divide: a / b
      case .maximum: Tensor.maximum(a, b)
      case .minimum: Tensor.minimum(a, b)
      }
    }

    var testDescription: String { rawValue }
  }
}
