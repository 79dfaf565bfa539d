import CurvatureNumerics

// Elementwise arithmetic with NumPy broadcasting. Pullbacks sum cotangents back down to
// each operand's shape; all rules are tensor operations, so they differentiate again.

extension Tensor {
  /// `f(a, b)` for the four arithmetic functions, with their derivative rules.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  static func arithmetic(_ f: BinaryFunction, _ a: Tensor, _ b: Tensor) -> Tensor {
    let value = NDArray<Scalar>.binary(f, a.value, b.value)
    // Differentials use the primals without tangents: one level of forward mode.
    let (pa, pb) = (a.droppingTangent(), b.droppingTangent())
    let (shapeA, shapeB) = (a.shape, b.shape)
    switch f {
    case .add:
      return primitive(
        value, inputs: [a, b],
        pullback: { g, needed in
          [needed[0] ? g.summed(toShape: shapeA) : nil, needed[1] ? g.summed(toShape: shapeB) : nil]
        },
        differential: { t in sumOfTangents(t[0], t[1], shape: value.shape) })
    case .subtract:
      return primitive(
        value, inputs: [a, b],
        pullback: { g, needed in
          [needed[0] ? g.summed(toShape: shapeA) : nil, needed[1] ? (-g).summed(toShape: shapeB) : nil]
        },
        differential: { t in sumOfTangents(t[0], t[1].map { -$0 }, shape: value.shape) })
    case .multiply:
      return primitive(
        value, inputs: [a, b],
        pullback: { g, needed in
          [needed[0] ? (g * b).summed(toShape: shapeA) : nil, needed[1] ? (g * a).summed(toShape: shapeB) : nil]
        },
        differential: { t in sumOfTangents(t[0].map { $0 * pb }, t[1].map { pa * $0 }, shape: value.shape) })
    case .divide:
      return primitive(
        value, inputs: [a, b],
        pullback: { g, needed in
          let gb = g / b
          return [needed[0] ? gb.summed(toShape: shapeA) : nil, needed[1] ? (-(gb * a / b)).summed(toShape: shapeB) : nil]
        },
        differential: { t in
          sumOfTangents(t[0].map { $0 / pb }, t[1].map { -($0 * pa / (pb * pb)) }, shape: value.shape)
        })
    case .maximum, .minimum:
      // The derivative flows to the selected operand (to `a` on ties), as a constant mask.
      let pick = NDArray<Scalar>.binary(.subtract, a.value.broadcast(to: value.shape), value.broadcast(to: value.shape))
      let maskA = Tensor(pick.map(.abs).map(.step).map(.negate).adding(1))
      let maskB = Tensor(maskA.value.map(.negate).adding(1))
      return primitive(
        value, inputs: [a, b],
        pullback: { g, needed in
          [needed[0] ? (g * maskA).summed(toShape: shapeA) : nil, needed[1] ? (g * maskB).summed(toShape: shapeB) : nil]
        },
        differential: { t in sumOfTangents(t[0].map { $0 * maskA }, t[1].map { $0 * maskB }, shape: value.shape) })
    }
  }

  /// The sum of two optional tangents, broadcast to `shape` (nil when both are nil).
  static func sumOfTangents(_ a: Tensor?, _ b: Tensor?, shape: [Int]) -> Tensor? {
    switch (a, b) {
    case let (a?, b?): return (a + b).broadcast(to: shape)
    case let (a?, nil): return a.broadcast(to: shape)
    case let (nil, b?): return b.broadcast(to: shape)
    case (nil, nil): return nil
    }
  }

  /// Elementwise sum with broadcasting.
  public static func + (lhs: Tensor, rhs: Tensor) -> Tensor { arithmetic(.add, lhs, rhs) }
  /// Elementwise difference with broadcasting.
  public static func - (lhs: Tensor, rhs: Tensor) -> Tensor { arithmetic(.subtract, lhs, rhs) }
  /// Elementwise product with broadcasting.
  public static func * (lhs: Tensor, rhs: Tensor) -> Tensor { arithmetic(.multiply, lhs, rhs) }
  /// Elementwise quotient with broadcasting.
  public static func / (lhs: Tensor, rhs: Tensor) -> Tensor { arithmetic(.divide, lhs, rhs) }

  /// The tensor plus a constant.
  public static func + (lhs: Tensor, rhs: Scalar) -> Tensor { lhs + Tensor(scalar: rhs) }
  /// A constant plus the tensor.
  public static func + (lhs: Scalar, rhs: Tensor) -> Tensor { Tensor(scalar: lhs) + rhs }
  /// The tensor minus a constant.
  public static func - (lhs: Tensor, rhs: Scalar) -> Tensor { lhs - Tensor(scalar: rhs) }
  /// A constant minus the tensor.
  public static func - (lhs: Scalar, rhs: Tensor) -> Tensor { Tensor(scalar: lhs) - rhs }
  /// The tensor times a constant.
  public static func * (lhs: Tensor, rhs: Scalar) -> Tensor { lhs * Tensor(scalar: rhs) }
  /// A constant times the tensor.
  public static func * (lhs: Scalar, rhs: Tensor) -> Tensor { Tensor(scalar: lhs) * rhs }
  /// The tensor divided by a constant.
  public static func / (lhs: Tensor, rhs: Scalar) -> Tensor { lhs * Tensor(scalar: 1 / rhs) }
  /// A constant divided by the tensor, elementwise.
  public static func / (lhs: Scalar, rhs: Tensor) -> Tensor { Tensor(scalar: lhs) / rhs }

  /// Elementwise negation.
  public static prefix func - (operand: Tensor) -> Tensor { operand.apply(.negate) }

  /// Elementwise maximum with broadcasting; the gradient goes to the larger operand (to
  /// the left one on ties).
  public static func maximum(_ a: Tensor, _ b: Tensor) -> Tensor { arithmetic(.maximum, a, b) }

  /// Elementwise minimum with broadcasting; the gradient goes to the smaller operand (to
  /// the left one on ties).
  public static func minimum(_ a: Tensor, _ b: Tensor) -> Tensor { arithmetic(.minimum, a, b) }
}

extension NDArray {
  /// Every element plus a constant.
  package func adding(_ constant: Scalar) -> NDArray { NDArray.binary(.add, self, NDArray(scalar: constant)) }
}
