import Curvature
import Foundation
import Testing

/// `curv --operator kfac --other-parameters …` on an exported GPT: the parameters outside
/// its linear nodes (embeddings, the tied head, LayerNorm) get the exact GGN block, its
/// diagonal or nothing, as the stderr note says, and never couple to the Kronecker blocks.
@Suite struct CLIKFACOtherParametersTests {
  /// The dense KFAC (type-2, float64) with `--other-parameters kind` (none: the default),
  /// and the parameter names the note lists.
  func kfac(_ fixture: CLIGraphCase, _ kind: String?) throws -> (matrix: NDArray<Double>, others: [String]) {
    let output = fixture.path("K.npy")
    let option = kind.map { ["--other-parameters", $0] } ?? []
    let run = try CLI.run(
      ["dense"] + fixture.fileArguments + ["--operator", "kfac", "--fisher-type", "type-2", "--dtype", "float64", "--output", output]
        + option)
    #expect(run.status == 0, "\(kind ?? "default"): \(run.stderr)")
    let lines = run.stderr.split(separator: "\n").filter { $0.hasPrefix("note: KFAC: ") }
    #expect(lines.count == 1, "one note on stderr: \(run.stderr)")
    let others = lines.first.flatMap { $0.components(separatedBy: ": ").last }?.components(separatedBy: ", ") ?? []
    return (try CLI.readNPY(URL(fileURLWithPath: output)), others)
  }

  @Test func otherParametersGetWhatTheOptionSays() throws {
    let fixture = try CLIGraphCase.make("nanogpt")
    defer { fixture.remove() }
    let ggn = try fixture.matrix("ggn")
    let p = ggn.shape[0]
    let specs = try fixture.parameters()
    let names = Set(specs.map(\.name))

    let byDefault = try kfac(fixture, nil)
    #expect(!byDefault.others.isEmpty && Set(byDefault.others).isSubset(of: names), "\(byDefault.others)")
    let other = Set(byDefault.others)
    // Each other parameter tensor's flat indices, and all of them together.
    let blocks = try specs.filter { other.contains($0.name) }.map { try fixture.indices(of: [$0.name]) }
    let otherIndices = Set(blocks.flatMap { $0 })
    #expect(otherIndices.count < p, "some parameters are Kronecker-factored")

    for kind in ["diagonal", "exact-block", "exclude"] {
      let run = kind == "diagonal" ? byDefault : try kfac(fixture, kind)
      #expect(run.others == byDefault.others)
      let m = run.matrix
      let scale = ggn.scalars.map(abs).max() ?? 1
      for i in otherIndices.sorted() {
        for j in 0..<p {
          let expected: Double
          switch kind {
          case "diagonal": expected = i == j ? ggn[i, j] : 0
          case "exact-block": expected = blocks.contains { $0.contains(i) && $0.contains(j) } ? ggn[i, j] : 0
          default: expected = 0
          }
          #expect(abs(m[i, j] - expected) <= 1e-9 * scale, "\(kind): entry (\(i), \(j)) is \(m[i, j]), expected \(expected)")
          #expect(abs(m[i, j] - m[j, i]) <= 1e-12 * scale, "\(kind): not symmetric at (\(i), \(j))")
        }
      }
    }
    // The default is the diagonal.
    let diagonal = try kfac(fixture, "diagonal")
    #expect(diagonal.matrix.scalars == byDefault.matrix.scalars)
  }

  @Test func otherParametersIsAKFACOption() throws {
    let fixture = try CLIGraphCase.make("nanogpt")
    defer { fixture.remove() }
    let run = try CLI.run(
      ["dense"] + fixture.fileArguments + ["--operator", "ggn", "--other-parameters", "exclude", "--output", fixture.path("G.npy")])
    #expect(run.status != 0)
    #expect(run.stderr.contains("--other-parameters does not apply to --operator ggn"), "\(run.stderr)")
    let unknown = try CLI.run(
      ["dense"] + fixture.fileArguments + ["--operator", "kfac", "--other-parameters", "all", "--output", fixture.path("G.npy")])
    #expect(unknown.status != 0)
    #expect(unknown.stderr.contains("choose one of exact-block, diagonal, exclude"), "\(unknown.stderr)")
    #expect(!FileManager.default.fileExists(atPath: fixture.path("G.npy")))
  }
}
