import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// `curv … --operator ekfac --kfac-embeddings` on an exported graph whose only parameter is
/// an embedding read by a loss per token (per_token_ce_ignore): the CLI factors the
/// embedding (no note about other parameters), takes one reverse pass per token position
/// (`termByTerm`, set for graph models) and writes the library's EKFAC.
@Suite struct CLIEKFACEmbeddingTests {
  @Test func ekfacFactorsTheEmbedding() throws {
    let fixture = try CLIGraphCase.make("per_token_ce_ignore")
    defer { fixture.remove() }
    let settings = ["--operator", "ekfac", "--fisher-type", "type-2", "--kfac-embeddings", "--dtype", "float64"]
    let dense = try CLI.run(["dense"] + fixture.fileArguments + settings + ["--output", fixture.path("E.npy")])
    #expect(dense.status == 0, "\(dense.stderr)")
    #expect(!dense.stderr.contains("note: EKFAC"), "\(dense.stderr)")
    let m = try CLI.readNPY(URL(fileURLWithPath: fixture.path("E.npy")))
    let problem = try PerSampleSupport.graphProblem("per_token_ce_ignore", as: Double.self)
    let options = KFACOptions(fisherType: .type2, otherParameters: .diagonal, embeddings: true, termByTerm: true)
    let expected = try EKFACOperator(problem, options: options).dense()
    expectClose(m, expected, rtol: 1e-12, atolFactor: 1e-14, "curv ekfac --kfac-embeddings")
    let trace = try CLI.run(["trace"] + fixture.fileArguments + settings + ["--json"])
    #expect(trace.status == 0, "\(trace.stderr)")
    let traced = try #require(try trace.json()["trace"] as? Double)
    #expect(Swift.abs(traced - m.trace()) <= 1e-10 * Swift.abs(m.trace()), "trace \(traced) vs \(m.trace())")
  }
}
