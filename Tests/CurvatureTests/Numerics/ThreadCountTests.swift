import Curvature
import Testing

/// `NumericsBackend.setThreadCount` validates the count against the BLAS build instead of
/// letting OpenBLAS cap it silently or hang starting threads (issue 20, §4).
@Suite struct ThreadCountTests {
  @Test func maximumComesFromTheBuild() {
    let maximum = NumericsBackend.maximumThreadCount
    #expect(maximum >= 1)
    if let word = NumericsBackend.blasConfiguration.split(separator: " ").first(where: { $0.hasPrefix("MAX_THREADS=") }) {
      #expect("MAX_THREADS=\(maximum)" == word)
    }
  }

  @Test func outOfRangeCountsAreRejected() {
    let before = NumericsBackend.threadCount
    let maximum = NumericsBackend.maximumThreadCount
    for count in [0, -1, maximum + 1, 100_000] {
      let error = #expect(throws: ResourceError.self, "\(count) threads") { try NumericsBackend.setThreadCount(count) }
      if let error {
        #expect(error.description.contains("\(count) threads requested"), "\(error)")
        #expect(error.description.contains("1 to \(maximum)"), "\(error)")
      }
      #expect(throws: ResourceError.self, "validate \(count)") { try NumericsBackend.validateThreadCount(count) }
    }
    #expect(NumericsBackend.threadCount == before)
  }

  @Test func theCurrentCountIsAccepted() throws {
    let current = NumericsBackend.threadCount
    try NumericsBackend.setThreadCount(current)
    #expect(NumericsBackend.threadCount == current)
  }
}
