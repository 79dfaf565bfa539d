import CurvatureLinearAlgebra
import CurvatureNN

/// How parameter blocks are grouped into the diagonal blocks of a block-diagonal
/// curvature approximation.
public enum ParameterGrouping: String, Sendable, CaseIterable {
  /// One block per layer (a layer's weight and bias together): for a `Sequential` its
  /// layers; for any other model (graph, `FunctionModel`) consecutive parameters whose
  /// names share the module path before the last `.` (`blocks.0.attn.weight` and
  /// `blocks.0.attn.bias`), each name without a `.` on its own.
  case perLayer = "layer"
  /// One block per parameter tensor.
  case perParameter = "parameter"
}

extension CurvatureProblem {
  /// The same model, loss and data restricted to some parameter blocks.
  /// - Parameter blocks: Indices of the model's parameter blocks.
  /// - Throws: `CurvatureError.invalidArgument` for unknown or repeated indices.
  public func restricted(to blocks: [Int]) throws -> CurvatureProblem {
    guard !blocks.isEmpty else { throw CurvatureError.invalidArgument("no parameter blocks selected") }
    for index in blocks where !model.parameterSpecs.indices.contains(index) {
      throw CurvatureError.invalidArgument("parameter block \(index) does not exist (the model has \(model.parameterSpecs.count) blocks)")
    }
    guard Set(blocks).count == blocks.count else {
      throw CurvatureError.invalidArgument("parameter blocks \(blocks) list a block more than once")
    }
    var copy = self
    copy.blocks = blocks.sorted()
    return copy
  }

  /// The selected blocks grouped per layer or per parameter, in parameter order: per layer
  /// by the layers of a `Sequential`, and for other models by module path, the name before
  /// its last `.`, over runs of consecutive blocks (see `ParameterGrouping.perLayer`).
  public func blockGroups(_ grouping: ParameterGrouping) -> [[Int]] {
    guard grouping == .perLayer else { return blocks.map { [$0] } }
    guard let sequential = model as? Sequential<Scalar> else {
      // Runs of consecutive blocks only: the block-diagonal operator lays groups out in
      // order, which must be the flat parameter order.
      func module(_ block: Int) -> Substring? {
        let name = model.parameterSpecs[block].name
        return name.lastIndex(of: ".").map { name[..<$0] }
      }
      var groups = [[Int]]()
      for block in blocks {
        if let last = groups.last?.last, let path = module(block), module(last) == path {
          groups[groups.count - 1].append(block)
        } else {
          groups.append([block])
        }
      }
      return groups
    }
    let selected = Set(blocks)
    return sequential.parameterRanges.map { $0.filter(selected.contains) }.filter { !$0.isEmpty }
  }

  /// A block-diagonal approximation: `make` applied to the problem restricted to each group
  /// of blocks, assembled on the diagonal (dropping the curvature between groups).
  ///
  /// ```swift
  /// let layerwiseGGN = try problem.blockDiagonal(.perLayer) { GGNOperator($0) }
  /// ```
  /// - Throws: What `make` throws.
  /// - Complexity: Each product applies every group's operator to its slice.
  public func blockDiagonal(
    _ grouping: ParameterGrouping, _ make: (CurvatureProblem) throws -> any LinearOperator<Scalar>
  ) throws -> BlockDiagonalOperator<Scalar> {
    BlockDiagonalOperator(try blockGroups(grouping).map { try make(try restricted(to: $0)) })
  }
}
