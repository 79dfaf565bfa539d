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
}
