import ArgumentParser
import Curvature

// The values of the options that choose from a fixed list. The library's enums conform
// here, so the library does not depend on ArgumentParser (no `@retroactive` is needed: the
// types are of this package); each spells its cases as `curv` always has, whatever the
// library's raw values.

/// An option value chosen from a fixed list of spellings.
///
/// Public only because the library's public enums conform (a witness of a public type's
/// conformance must be public); `curv` is an executable, so nothing is exported.
public protocol OptionChoice: CaseIterable, Sendable, Equatable {
  /// The spelling on the command line.
  var argument: String { get }
}

extension OptionChoice {
  /// The value spelled `argument`, if any.
  static func matching(_ argument: String) -> Self? { allCases.first { $0.argument == argument } }

  /// The spellings, in order.
  static var spellings: [String] { allCases.map(\.argument) }

  /// `a|b|c`, for help texts.
  static var choices: String { spellings.joined(separator: "|") }

  /// Parses an option's value (the `transform` of its `@Option`), so that an unknown value
  /// is one line naming the choices rather than ArgumentParser's bulleted list.
  /// - Throws: `UnknownChoice` for a value not in the list.
  @Sendable static func parse(_ text: String) throws -> Self {
    guard let value = matching(text) else { throw UnknownChoice(value: text, choices: spellings) }
    return value
  }
}

// `ExpressibleByArgument` from the spellings, once for every choice: an option given its
// type (rather than a `transform`) parses, lists and shows its default by `argument`. The
// second extension is the same for enums with raw values, where it must be more specific
// than ArgumentParser's `RawRepresentable` defaults (which spell cases by raw value) for
// the conformance to pick it.

extension OptionChoice where Self: ExpressibleByArgument {
  /// The value spelled `argument`, if any.
  public init?(argument: String) {
    guard let value = Self.matching(argument) else { return nil }
    self = value
  }
  /// The spellings, in order.
  public static var allValueStrings: [String] { spellings }
  /// The default's spelling, for help texts.
  public var defaultValueDescription: String { argument }
}

extension OptionChoice where Self: ExpressibleByArgument & RawRepresentable, RawValue: ExpressibleByArgument {
  /// The value spelled `argument`, if any.
  public init?(argument: String) {
    guard let value = Self.matching(argument) else { return nil }
    self = value
  }
  /// The spellings, in order.
  public static var allValueStrings: [String] { spellings }
  /// The default's spelling, for help texts.
  public var defaultValueDescription: String { argument }
}

/// A value that is none of an option's choices; ArgumentParser puts it after the option's
/// name: `The value 'x' is invalid for '--operator <operator>': unknown value 'x'; choose one of …`.
struct UnknownChoice: Error, CustomStringConvertible {
  var value: String
  var choices: [String]
  var description: String { "unknown value '\(value)'; choose one of \(choices.joined(separator: ", "))" }
}

/// `--dtype`: the precision of every computation (outputs are written as float64).
enum DType: String, OptionChoice, ExpressibleByArgument {
  case float32, float64
  var argument: String { rawValue }
}

/// `--operator`: the curvature matrix.
enum OperatorKind: String, OptionChoice, ExpressibleByArgument {
  case hessian, ggn, ef
  case fisherMC = "fisher-mc"
  case kfac, ekfac

  var argument: String { rawValue }

  /// Whether the operator is Kronecker-factored (takes the KFAC options).
  var isKronecker: Bool { self == .kfac || self == .ekfac }

  /// The name in headings.
  var title: String {
    switch self {
    case .hessian: return "Hessian"
    case .ggn: return "GGN"
    case .ef: return "empirical Fisher"
    case .fisherMC: return "Monte Carlo Fisher"
    case .kfac: return "KFAC"
    case .ekfac: return "EKFAC"
    }
  }
}

/// `--fisher-type` (curvlinops' `FisherType`).
extension FisherType: ExpressibleByArgument, OptionChoice {
  public var argument: String {
    switch self {
    case .type2: return "type-2"
    case .mc: return "mc"
    case .empirical: return "empirical"
    case .forwardOnly: return "forward-only"
    }
  }
}

/// `--kfac-approx`: how weight sharing enters the KFAC factors.
extension KFACApproximation: ExpressibleByArgument, OptionChoice {
  public var argument: String {
    switch self {
    case .expand: return "expand"
    case .reduce: return "reduce"
    }
  }
}

/// `--other-parameters`: what KFAC/EKFAC give the parameters outside their Kronecker nodes.
extension OtherParameters: ExpressibleByArgument, OptionChoice {
  public var argument: String { rawValue }
}

/// `--packed-projection`: a packed in-projection as one Kronecker block or one per projection.
extension PackedProjection: ExpressibleByArgument, OptionChoice {
  public var argument: String { rawValue }
}

/// `--which` of `curv eigs`.
extension EigenvalueSelection: ExpressibleByArgument, OptionChoice {
  public var argument: String {
    switch self {
    case .largest: return "largest"
    case .smallest: return "smallest"
    case .largestMagnitude: return "magnitude"
    }
  }
}

/// `--method` of `curv trace`.
enum TraceMethod: String, EstimatorMethod, ExpressibleByArgument {
  case exact, hutchinson, hutchpp, xtrace
  var argument: String { rawValue }
  var minimumMatvecs: Int {
    switch self {
    case .exact, .hutchinson: return 1
    case .hutchpp: return 3
    case .xtrace: return 4
    }
  }
  var sketchesAtMostTwiceP: Bool { self == .xtrace }
}

/// `--method` of `curv diag`.
enum DiagonalMethod: String, EstimatorMethod, ExpressibleByArgument {
  case exact, hutchinson, xdiag
  var argument: String { rawValue }
  var minimumMatvecs: Int { self == .xdiag ? 4 : 1 }
  var sketchesAtMostTwiceP: Bool { self == .xdiag }
}

/// `--preconditioner` of `curv solve`.
enum PreconditionerOption: String, OptionChoice, ExpressibleByArgument {
  case kfac, none
  var argument: String { rawValue }
}

/// `--solver` of `curv solve`.
enum SolverOption: String, OptionChoice, ExpressibleByArgument {
  case auto, cg, minres
  var argument: String { rawValue }
}

/// `--preconditioner` of `curv toeplitz`.
enum ToeplitzPreconditioner: String, OptionChoice, ExpressibleByArgument {
  case none, strang, chan, rchan, superoptimal, igf, band, kronecker
  var argument: String { rawValue }

  /// The circulant (or level-2 BCCB) approximation this preconditioner is, if any.
  var circulant: CirculantApproximation? {
    switch self {
    case .strang: return .strang
    case .chan: return .tChan
    case .rchan: return .rChan
    case .superoptimal: return .superoptimal
    default: return nil
    }
  }
}
