import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// The committed cases of `Fixtures/KFAC` (scripts/fixtures/make_kfac_fixtures.py): dense
/// KFAC and EKFAC matrices from curvlinops' `KFACLinearOperator` and `EKFACLinearOperator`
/// (type-2 and empirical, expand and reduce, separate and joint bias) in float64, with the
/// GGN and empirical Fisher.
private let kfacCases = ["mlp_mse_mean", "mlp_ce_sum", "mlp_bce_mean", "cnn_ce_mean", "sequence_mse_mean", "cnn_strided_ce_mean"]

private struct KFACFixture {
  var model: Sequential<Double>
  var loss: Loss<Double>
  var data: NPYDataset<Double>
  var expected: SafetensorsFile

  init(_ name: String) throws {
    let files = try ReferenceFixture("KFAC", name)
    (model, loss, data, expected) = (files.model, files.loss, files.data, files.expected)
  }

  func problem(batchSize: Int) throws -> CurvatureProblem<Double> {
    try CurvatureProblem(model: model, loss: loss, data: data, batchSize: batchSize)
  }

  /// The matrices `(kind, options, key)` the fixture holds.
  var entries: [(kind: String, options: KFACOptions, key: String)] {
    expected.names.compactMap { key in
      let parts = key.split(separator: "/").map(String.init)
      guard parts.count == 4, let fisher = FisherType(rawValue: parts[1]),
            let approximation = KFACApproximation(rawValue: parts[2]) else { return nil }
      return (parts[0], KFACOptions(fisherType: fisher, approximation: approximation, jointBias: parts[3] == "joint"), key)
    }
  }
}

@Suite struct KFACCurvlinopsTests {
  @Test func everyFixtureIsListed() throws {
    #expect(Set(try ReferenceFixture.cases("KFAC")) == Set(kfacCases))
  }

  /// Our `dense()` equals curvlinops' matrix for every stored variant, in the flat
  /// parameter order (state_dict order, row-major per block), with batches of 2 (curvlinops
  /// used 3) and of the whole set.
  @Test(arguments: kfacCases)
  func kfacAndEKFACMatchCurvlinops(_ name: String) throws {
    let fixture = try KFACFixture(name)
    let entries = fixture.entries
    #expect(entries.count >= 8)
    for batchSize in [2, fixture.data.count] {
      let problem = try fixture.problem(batchSize: batchSize)
      expectClose(try GGNOperator(problem).dense(), try fixture.expected.array(named: "ggn"), rtol: 1e-9, atolFactor: 1e-12, "\(name) GGN")
      for (kind, options, key) in entries {
        let op: any LinearOperator<Double> = kind == "kfac"
          ? try KFACOperator(problem, options: options) : try EKFACOperator(problem, options: options)
        expectClose(try op.dense(), try fixture.expected.array(named: key), rtol: 1e-9, atolFactor: 1e-12, "\(name) \(key), batch \(batchSize)")
      }
    }
  }

  /// EKFAC is strictly closer than KFAC (Frobenius norm) to the GGN (type-2) or empirical
  /// Fisher (empirical) block diagonal, on every fixture and variant — for curvlinops'
  /// matrices and ours (including EKFAC on the sequence model, which curvlinops lacks).
  @Test(arguments: kfacCases)
  func ekfacIsCloserThanKFAC(_ name: String) throws {
    let fixture = try KFACFixture(name)
    let problem = try fixture.problem(batchSize: fixture.data.count)
    var compared = 0
    for (kind, options, key) in fixture.entries where kind == "kfac" {
      let kfac = try KFACOperator(problem, options: options)
      let reference = try KFACTesting.blockPart(
        try fixture.expected.array(named: options.fisherType == .type2 ? "ggn" : "ef"), like: kfac)
      let ours = (kfac: try kfac.dense(), ekfac: try EKFACOperator(problem, options: options).dense())
      let (e, k) = (KFACTesting.distance(ours.ekfac, reference), KFACTesting.distance(ours.kfac, reference))
      #expect(e < k * (1 - 1e-6), "\(name) \(key): ours ‖EKFAC − G‖ = \(e), ‖KFAC − G‖ = \(k)")
      let ekfacKey = "ekfac" + key.dropFirst(4)
      if fixture.expected.info(named: ekfacKey) != nil {
        let theirs = (kfac: try fixture.expected.array(named: key, as: Double.self), ekfac: try fixture.expected.array(named: ekfacKey, as: Double.self))
        #expect(KFACTesting.distance(theirs.ekfac, reference) < KFACTesting.distance(theirs.kfac, reference), "\(name) \(key): curvlinops")
      }
      compared += 1
    }
    #expect(compared >= 4)
  }
}
