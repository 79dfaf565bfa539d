import Curvature
import CurvatureTestSupport
import Foundation
import Testing

#if canImport(FoundationXML)
  import FoundationXML
#endif

/// A short seeded SGD run observed by a cockpit with `instruments`.
private func dashboardRecords<T: BLASScalar>(_: T.Type, instruments: [CockpitInstrument], steps: Int = 8, learningRate: Double = 0.5) throws -> [CockpitRecord] {
  try CockpitRun.records(
    try Cockpit<T>(instruments: instruments, seed: 3), model: try CockpitRun.network(T.self),
    data: try CockpitRun.blobs(T.self, count: 6 * steps, seed: 4), optimizer: SGD<T>(learningRate: T(learningRate)), batchSize: 6,
    order: .shuffled(seed: 1))
}

/// What an SVG document holds: element names, attributes in document order, and text.
private final class SVGContents: NSObject, XMLParserDelegate {
  var elements: [(name: String, attributes: [String: String])] = []
  var text = ""
  var title = ""
  private var inTitle = false
  private var sawTitle = false

  func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
    elements.append((name, attributes))
    inTitle = name == "title" && !sawTitle
    sawTitle = sawTitle || name == "title"
  }

  func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) { inTitle = false }

  func parser(_ parser: XMLParser, foundCharacters string: String) {
    text += string
    if inTitle { title += string }
  }

  var panelIDs: [String] { elements.compactMap { $0.attributes["data-panel"] } }
}

/// The parsed SVG, or an issue recorded when it is not well-formed XML.
private func parse(_ svg: String) -> SVGContents? {
  let contents = SVGContents()
  let parser = XMLParser(data: Data(svg.utf8))
  parser.delegate = contents
  guard parser.parse() else {
    Issue.record("the SVG is not well-formed XML: \(parser.parserError.map { "\($0)" } ?? "unknown error")")
    return nil
  }
  return contents
}

/// The `data-panel` values of an HTML page, in document order.
private func htmlPanelIDs(_ html: String) -> [String] {
  html.components(separatedBy: "data-panel=\"").dropFirst().compactMap { $0.split(separator: "\"", maxSplits: 1).first.map(String.init) }
}

@Suite struct CockpitDashboardTests {
  @Test(arguments: CockpitPreset.allCases) func presetsShowExactlyTheirPanels(preset: CockpitPreset) throws {
    let records = try dashboardRecords(Double.self, instruments: preset.instruments)
    let expected = CockpitDashboard.panelIDs(for: preset.instruments)
    let svg = CockpitDashboard.svg(records: records, title: "cockpit \(preset)")
    let html = CockpitDashboard.html(records: records, title: "cockpit \(preset)")
    #expect(parse(svg)?.panelIDs == expected)
    #expect(htmlPanelIDs(html) == expected)
    for id in expected {
      #expect(html.contains("id=\"\(id)\" data-panel=\"\(id)\""))
      #expect(svg.contains("id=\"\(id)\" data-panel=\"\(id)\""))
    }
    // Nothing external: no URLs besides the SVG namespace.
    #expect(!html.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "").contains("http"))
    // Same records, same bytes; a second run of the same seeds, too.
    let again = try dashboardRecords(Double.self, instruments: preset.instruments)
    #expect(CockpitDashboard.html(records: again, title: "cockpit \(preset)") == html)
    #expect(CockpitDashboard.svg(records: again, title: "cockpit \(preset)") == svg)
  }

  @Test func panelIDsFollowTheInstruments() {
    #expect(CockpitDashboard.panelIDs(for: []) == [])
    #expect(CockpitDashboard.panelIDs(for: [.parameters, .time]) == [])
    #expect(CockpitDashboard.panelIDs(for: [.updateSize]) == ["distance"])
    #expect(CockpitDashboard.panelIDs(for: [.cabs, .loss, .alpha, .cabs]) == ["alpha", "alpha-trace", "performance", "cabs"])
    #expect(
      CockpitDashboard.panelIDs(for: CockpitPreset.economy.instruments)
        == ["alpha", "alpha-trace", "distance", "grad-norm", "gradient-tests", "grad-hist-1d", "performance"])
    #expect(
      CockpitDashboard.panelIDs(for: CockpitInstrument.allCases)
        == [
          "alpha", "alpha-trace", "distance", "grad-norm", "gradient-tests", "grad-hist-1d", "grad-hist-2d", "hess-max-ev",
          "hess-trace", "tic", "performance", "mean-gsnr", "cabs", "early-stopping",
        ])
  }

  /// Every instrument of a Float run, with the auxiliary ones (MeanGSNR, CABS, EarlyStopping).
  @Test func everyInstrumentOfAFloatRunDraws() throws {
    let instruments = CockpitInstrument.allCases.filter { $0 != .time }
    let records = try dashboardRecords(Float.self, instruments: instruments, steps: 5)
    let svg = CockpitDashboard.svg(records: records, title: "float")
    #expect(parse(svg)?.panelIDs == CockpitDashboard.panelIDs(for: instruments))
  }

  /// NaN and ±∞ are left out: no "nan"/"inf" in any attribute, and the finite points remain.
  @Test func nonFiniteValuesAreSkipped() throws {
    var records = try dashboardRecords(Double.self, instruments: CockpitPreset.full.instruments + [.cabs, .earlyStopping, .meanGSNR], steps: 4)
    records[1].loss = .nan
    records[2].loss = .infinity
    records[0].alpha = -.infinity
    records[1].alpha = .nan
    records[0].hessMaxEV = .nan
    records[3].hessMaxEV = -.infinity
    records[2].distance = [.nan, 1]
    records[1].gradNorm = [.infinity]
    records[0].normTest = .nan
    records[2].ticDiag = .infinity
    records[1].hessTrace = [.nan]
    records[0].cabs = .nan
    records[3].earlyStopping = .infinity
    for r in records.indices { records[r].meanGSNR = .nan }
    let svg = CockpitDashboard.svg(records: records, title: "non-finite")
    let html = CockpitDashboard.html(records: records, title: "non-finite")
    guard let contents = parse(svg) else { return }
    for element in contents.elements {
      for (key, value) in element.attributes {
        #expect(!value.lowercased().contains("nan") && !value.lowercased().contains("inf"), "\(element.name) \(key)=\(value)")
      }
    }
    #expect(!contents.text.lowercased().contains("nan"))
    #expect(!html.lowercased().contains("nan"))
    #expect(contents.panelIDs == CockpitDashboard.panelIDs(for: records[0].instruments))
    // Mean GSNR is all NaN: its panel stays and says so.
    #expect(contents.text.contains("no finite values recorded"))
    // The finite losses (steps 0 and 3) are still drawn: a dots path in the performance panel.
    #expect(svg.components(separatedBy: "id=\"performance\"")[1].components(separatedBy: "</g>")[0].contains("<path d=\"M"))
  }

  @Test func titlesAreEscaped() throws {
    let title = "lr <1e-1> & \"momentum\" 'none' \u{7}"
    let records = try dashboardRecords(Double.self, instruments: [.loss], steps: 2)
    let html = CockpitDashboard.html(records: records, title: title)
    #expect(html.contains("<h1>lr &lt;1e-1&gt; &amp; &quot;momentum&quot; &#39;none&#39; </h1>"))
    #expect(!html.contains("<1e-1>"))
    #expect(parse(CockpitDashboard.svg(records: records, title: title))?.title == "lr <1e-1> & \"momentum\" 'none' ")
  }

  @Test func emptyAndSingleStepRecords() throws {
    let empty = CockpitDashboard.svg(records: [], title: "empty")
    #expect(parse(empty)?.panelIDs == [])
    #expect(CockpitDashboard.html(records: [], title: "empty").contains("data-panels=\"0\""))
    #expect(CockpitDashboard.html(records: [], title: "empty").contains("No cockpit records."))
    // One step: α is never computed (it needs the next step), yet its panels are present.
    let one = try dashboardRecords(Double.self, instruments: CockpitPreset.full.instruments, steps: 1)
    #expect(one.count == 1 && one[0].alpha == nil)
    let contents = parse(CockpitDashboard.svg(records: one, title: "one"))
    #expect(contents?.panelIDs == CockpitDashboard.panelIDs(for: CockpitPreset.full.instruments))
    #expect(contents?.text.contains("α needs two steps") == true)
  }

  /// Writes each preset's page and panel ids to `$CURVATURE_DASHBOARD_DIR` for
  /// scripts/browser-check.sh (which loads them in headless Chromium); a no-op otherwise.
  @Test func writesPagesForTheBrowserCheck() throws {
    guard let directory = ProcessInfo.processInfo.environment["CURVATURE_DASHBOARD_DIR"] else { return }
    for preset in CockpitPreset.allCases {
      let records = try dashboardRecords(Double.self, instruments: preset.instruments)
      let base = URL(fileURLWithPath: directory).appendingPathComponent(preset.rawValue)
      try CockpitDashboard.html(records: records, title: "Cockpit: \(preset) preset").write(
        to: base.appendingPathExtension("html"), atomically: true, encoding: .utf8)
      try (CockpitDashboard.panelIDs(for: preset.instruments).joined(separator: "\n") + "\n").write(
        to: base.appendingPathExtension("ids"), atomically: true, encoding: .utf8)
    }
  }
}
