import CurvatureNumerics
import CurvatureLinearAlgebra
import CurvatureNN

// Choosing parameter blocks by PyTorch `state_dict` name: `"blocks.0.mlp.fc.weight"`,
// or patterns with fnmatch's wildcards (`"blocks.*.mlp.*"`), as a user names the part of a
// network whose curvature they want.

/// A pattern over parameter names with the wildcards of Python's `fnmatch`: `*` matches any
/// run of characters (dots included), `?` any one character; every other character matches
/// itself.
public struct ParameterNamePattern: Sendable, Hashable, CustomStringConvertible {
  /// The pattern as written.
  public let text: String

  /// A pattern from its text.
  /// - Parameter text: A name or a pattern with `*` and `?`.
  public init(_ text: String) { self.text = text }

  /// The pattern as written.
  public var description: String { text }

  /// Whether `name` matches the whole pattern.
  /// - Complexity: O(name length × pattern length) in the worst case.
  public func matches(_ name: String) -> Bool {
    let p = Array(text.unicodeScalars), s = Array(name.unicodeScalars)
    // Greedy matching with backtracking to the last `*` (linear for most patterns).
    var i = 0, j = 0, star = -1, resume = 0
    while i < s.count {
      if j < p.count, p[j] == "*" {
        star = j
        resume = i
        j += 1
      } else if j < p.count, p[j] == "?" || p[j] == s[i] {
        i += 1
        j += 1
      } else if star >= 0 {
        j = star + 1
        resume += 1
        i = resume
      } else {
        return false
      }
    }
    while j < p.count, p[j] == "*" { j += 1 }
    return j == p.count
  }
}

extension DifferentiableModel {
  /// The parameter blocks whose names match any of `patterns`, in the model's order
  /// (`named_parameters()` for an exported graph), each once.
  ///
  /// ```swift
  /// let mlp = try model.parameterBlocks(matching: ["blocks.*.mlp.*", "ln_f.weight"])
  /// ```
  /// - Parameter patterns: Names or fnmatch patterns (see `ParameterNamePattern`).
  /// - Returns: Indices into `parameterSpecs`, ascending.
  /// - Throws: `CurvatureError.invalidArgument` when `patterns` is empty, or for the first
  ///   pattern that matches no parameter, listing the model's parameter names.
  /// - Complexity: O(patterns × blocks) matches.
  public func parameterBlocks(matching patterns: [String]) throws -> [Int] {
    guard !patterns.isEmpty else {
      throw CurvatureError.invalidArgument("no parameter names or patterns given (the parameters are \(parameterNameList))")
    }
    var selected = Set<Int>()
    for text in patterns {
      let pattern = ParameterNamePattern(text)
      let matching = parameterSpecs.indices.filter { pattern.matches(parameterSpecs[$0].name) }
      guard !matching.isEmpty else {
        throw CurvatureError.invalidArgument("'\(text)' matches no parameter; the parameters are \(parameterNameList)")
      }
      selected.formUnion(matching)
    }
    return selected.sorted()
  }

  /// The parameter names, comma-separated, for error messages.
  var parameterNameList: String { parameterSpecs.map(\.name).joined(separator: ", ") }

  /// Where the parameter block `name` sits in the model's flat parameter vector (all
  /// blocks in `parameterSpecs` order, as `flatParameters()` and PyTorch's
  /// `parameters_to_vector`).
  ///
  /// ```swift
  /// let range = try model.parameterRange(named: "0.weight")   // 0..<48
  /// ```
  /// - Parameter name: A parameter name, exactly (no pattern).
  /// - Returns: The half-open range of flat indices.
  /// - Throws: `CurvatureError.invalidArgument` for an unknown name, listing the names.
  /// - Complexity: O(blocks).
  public func parameterRange(named name: String) throws -> Range<Int> {
    var offset = 0
    for spec in parameterSpecs {
      if spec.name == name { return offset..<(offset + spec.count) }
      offset += spec.count
    }
    throw CurvatureError.invalidArgument("no parameter named '\(name)'; the parameters are \(parameterNameList)")
  }
}

extension CurvatureProblem {
  /// The same model, loss and data restricted to the parameter blocks whose names match any
  /// of `patterns`: the operators then act on those blocks only, in the model's order, so
  /// their matrices are the corresponding principal submatrix of the full ones.
  ///
  /// ```swift
  /// let attention = try problem.restricted(toParametersMatching: ["blocks.*.attn.*"])
  /// let h = try HessianOperator(attention).dense()     // the attention block of the Hessian
  /// ```
  /// - Parameter patterns: Names or fnmatch patterns (see `ParameterNamePattern`).
  /// - Returns: The restricted problem (the selection replaces the current one).
  /// - Throws: What `DifferentiableModel.parameterBlocks(matching:)` throws.
  public func restricted(toParametersMatching patterns: [String]) throws -> CurvatureProblem {
    try restricted(to: try model.parameterBlocks(matching: patterns))
  }

  /// The names of the selected parameter blocks, in order.
  public var selectedParameterNames: [String] { selectedSpecs.map(\.name) }

  /// The selected parameter blocks and where each sits in the operators' vectors: the
  /// problem's flat index space of `dimension` entries (the selected blocks in the model's
  /// order, each flattened row-major), which every curvature operator of this problem,
  /// its gradients and its diagonals use.
  ///
  /// ```swift
  /// for (name, range) in problem.parameterLayout { print(name, range) }  // "0.weight" 0..<48, …
  /// ```
  /// - Complexity: O(selected blocks).
  public var parameterLayout: [(name: String, range: Range<Int>)] {
    var offset = 0
    return selectedSpecs.map { spec in
      defer { offset += spec.count }
      return (spec.name, offset..<(offset + spec.count))
    }
  }

  /// Where the selected parameter block `name` sits in the operators' vectors (see
  /// `parameterLayout`); with all blocks selected, the same as the model's
  /// `parameterRange(named:)`.
  ///
  /// ```swift
  /// let g = try problem.lossAndGradient().gradient
  /// let weightGradient = g.scalars[try problem.parameterRange(named: "2.weight")]
  /// ```
  /// - Parameter name: A parameter name, exactly (no pattern).
  /// - Returns: The half-open range of indices into the problem's `dimension` entries.
  /// - Throws: `CurvatureError.invalidArgument` for a name that is not a selected block,
  ///   listing the selected names.
  public func parameterRange(named name: String) throws -> Range<Int> {
    guard let entry = parameterLayout.first(where: { $0.name == name }) else {
      let known = model.parameterSpecs.contains { $0.name == name }
      throw CurvatureError.invalidArgument(
        "\(known ? "parameter '\(name)' is not selected" : "no parameter named '\(name)'"); the selected parameters are \(selectedParameterNames.joined(separator: ", "))")
    }
    return entry.range
  }

  /// The indices, in the operators' vectors, of the selected blocks whose names match any of
  /// `patterns`: what `principalSubmatrix(_:)` of any operator of this problem (KFAC
  /// included) takes to restrict it to those parameters.
  ///
  /// ```swift
  /// let kfacAttention = try kfac.principalSubmatrix(try problem.parameterIndices(matching: ["blocks.*.attn.*"]))
  /// ```
  /// - Parameter patterns: Names or fnmatch patterns (see `ParameterNamePattern`).
  /// - Returns: Flat indices, ascending.
  /// - Throws: `CurvatureError.invalidArgument` for an empty list or a pattern that matches
  ///   no selected block, listing the selected names.
  public func parameterIndices(matching patterns: [String]) throws -> [Int] {
    let layout = parameterLayout
    guard !patterns.isEmpty else {
      throw CurvatureError.invalidArgument("no parameter names or patterns given (the selected parameters are \(selectedParameterNames.joined(separator: ", ")))")
    }
    var chosen = Set<Int>()
    for text in patterns {
      let pattern = ParameterNamePattern(text)
      let matching = layout.indices.filter { pattern.matches(layout[$0].name) }
      guard !matching.isEmpty else {
        throw CurvatureError.invalidArgument("'\(text)' matches no selected parameter; the selected parameters are \(selectedParameterNames.joined(separator: ", "))")
      }
      chosen.formUnion(matching)
    }
    return chosen.sorted().flatMap { Array(layout[$0].range) }
  }
}

extension CurvatureMatrixOperator {
  /// The curvature of the parameters whose names match any of `patterns`: the principal
  /// submatrix of this operator on their indices (see
  /// `CurvatureProblem.parameterIndices(matching:)`). Its entries equal those of the same
  /// operator on `problem.restricted(toParametersMatching:)`, which is cheaper to apply for
  /// exact operators (the passes then differentiate those blocks only).
  ///
  /// ```swift
  /// let mlpBlock = try GGNOperator(problem).principalSubmatrix(parametersMatching: ["blocks.*.mlp.*"])
  /// ```
  /// - Parameter patterns: Names or fnmatch patterns (see `ParameterNamePattern`).
  /// - Returns: A `SubmatrixOperator` (nothing is computed).
  /// - Throws: What `CurvatureProblem.parameterIndices(matching:)` throws.
  public func principalSubmatrix(parametersMatching patterns: [String]) throws -> SubmatrixOperator<Scalar> {
    try principalSubmatrix(try problem.parameterIndices(matching: patterns))
  }
}
