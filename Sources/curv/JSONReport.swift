import Curvature
import Foundation

// `--json` output: one object per run, from Encodable types through Foundation's
// JSONEncoder. The keys are a contract (scripts read them); keys are written sorted, so
// the text is the same on every run.

/// The JSON object of a subcommand on a curvature operator: `operator` and `seconds`, and
/// the subcommand's own keys from `body`, all in one object.
struct OperatorReport<Body: Encodable>: Encodable {
  /// `--operator`'s spelling (`all` for `bench`).
  var operatorName: String
  /// Wall-clock seconds of the run, rounded to microseconds.
  var seconds: Double
  /// The subcommand's keys.
  var body: Body

  enum CodingKeys: String, CodingKey {
    case operatorName = "operator"
    case seconds
    case ranks
  }

  func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(operatorName, forKey: .operatorName)
    try container.encode((seconds * 1e6).rounded() / 1e6, forKey: .seconds)
    // Under mpiexec: the number of ranks the data were shared by.
    if DataParallel.isLaunchedByMPI { try container.encode(runCommunicator.size, forKey: .ranks) }
    // The body's keys join the same object.
    try body.encode(to: encoder)
  }
}

/// A JSON key spelled at run time (for `bench`'s timing keys).
struct JSONKey: CodingKey {
  var stringValue: String
  var intValue: Int? { nil }
  init(_ string: String) { stringValue = string }
  init?(stringValue: String) { self.stringValue = stringValue }
  init?(intValue: Int) { nil }
}

/// Prints `value` as one line of compact JSON on stdout.
///
/// Every number in it has passed the `FiniteGate`; JSONEncoder would refuse NaN or an
/// infinity anyway (JSON has no such numbers), so none is ever written.
/// - Throws: `EncodingError` for a non-finite number.
func printJSON(_ value: some Encodable) throws {
  let encoder = JSONEncoder()
  encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
  print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// Prints the JSON object of a subcommand on a curvature operator.
/// - Throws: `EncodingError` for a non-finite number.
func printJSONReport(operator name: String, seconds: Double, _ body: some Encodable) throws {
  try printJSON(OperatorReport(operatorName: name, seconds: seconds, body: body))
}
