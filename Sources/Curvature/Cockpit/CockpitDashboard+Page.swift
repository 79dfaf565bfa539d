/// The dashboard's two documents: the HTML page and the standalone SVG image. Both place
/// cockpit's groups as its plotter does (step size, gradients, curvature side by side;
/// performance and the auxiliary instruments below) and number nothing by position, so
/// a panel's id never depends on which other panels are present.
extension CockpitDashboard {
  /// "12 records, steps 0–11 · instruments: alpha, distance, …", or a note for no records.
  static func summary(_ records: [CockpitRecord]) -> String {
    guard let first = records.first, let last = records.last else { return "No cockpit records." }
    var seen = Set<CockpitInstrument>()
    for record in records { seen.formUnion(record.instruments) }
    let names = CockpitInstrument.allCases.filter(seen.contains).map(\.cockpitName).joined(separator: ", ")
    let steps = first.step == last.step ? "step \(first.step)" : "steps \(first.step)–\(last.step)"
    return "\(records.count) record\(records.count == 1 ? "" : "s"), \(steps) · instruments: \(names)"
  }

  /// The page's inline style: a responsive grid of groups, each a column of panels.
  static let pageStyle = """
    body{margin:0;padding:16px 20px;font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;background:#fff;color:#222}
    h1{font-size:22px;margin:0 0 4px}
    p.summary{margin:0 0 14px;color:#555;font-size:13px}
    main{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}
    section.group{border-radius:8px;padding:8px 10px 10px}
    section.group h2{font-size:14px;letter-spacing:.08em;margin:2px 0 8px;text-align:center}
    div.panel{width:380px;height:250px;margin:0 0 10px}
    div.panel svg{display:block;width:380px;height:250px}
    """

  /// The page's script: script errors, and a layout check of every panel, end up in
  /// `<body data-status>` (`ok`, or `error: …`) for headless checks.
  static func pageScripts(_ ids: [String]) -> (head: String, tail: String) {
    let list = ids.map { "\"\($0)\"" }.joined(separator: ",")
    let head = """
      <script>window.onerror=function(m,s,l){document.body.setAttribute("data-status","error: "+m+" (line "+l+")");};</script>
      """
    let tail = """
      <script>
      window.addEventListener("load",function(){
        var body=document.body,problems=[],expected=[\(list)];
        if(body.getAttribute("data-status")!=="loading")return;
        expected.forEach(function(id){var e=document.getElementById(id);if(!e||e.getAttribute("data-panel")!==id)problems.push("missing panel "+id);});
        document.querySelectorAll("[data-panel]").forEach(function(e){var r=e.getBoundingClientRect();if(!(r.width>0&&r.height>0))problems.push("empty panel "+e.id);});
        body.setAttribute("data-status",problems.length?"error: "+problems.join("; "):"ok");
      });
      </script>
      """
    return (head, tail)
  }

  /// The group's background color.
  static func background(_ group: Group) -> String {
    Palette.group[(Group.allCases.firstIndex(of: group) ?? 0) % Palette.group.count]
  }

  static func renderHTML(records: [CockpitRecord], title: String, hyperparameters: Bool = false) -> String {
    let panels = panels(for: records, hyperparameters: hyperparameters)
    let scripts = pageScripts(panels.map(\.id))
    var html = """
      <!DOCTYPE html>
      <html lang="en">
      <head>
      <meta charset="utf-8">
      <meta name="viewport" content="width=device-width, initial-scale=1">
      <title>\(escape(title))</title>
      <style>
      \(pageStyle)
      </style>
      </head>
      <body data-status="loading" data-panels="\(panels.count)">
      \(scripts.head)
      <h1>\(escape(title))</h1>
      <p class="summary">\(escape(summary(records)))</p>
      <main>

      """
    for entry in groups(panels) {
      let background = background(entry.group)
      html += "<section class=\"group\" id=\"\(entry.group.id)\" style=\"background:\(background)\">\n<h2>\(escape(entry.group.rawValue))</h2>\n"
      for panel in entry.panels {
        html += "<div class=\"panel\" id=\"\(panel.id)\" data-panel=\"\(panel.id)\">\n"
        html += "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(coordinate(Layout.width)) \(coordinate(Layout.height))\""
        html += " width=\"\(coordinate(Layout.width))\" height=\"\(coordinate(Layout.height))\" role=\"img\" aria-label=\"\(escape(panel.title))\""
        html += " font-family=\"system-ui, Helvetica, Arial, sans-serif\">\n"
        html += draw(panel, records: records)
        html += "\n</svg>\n</div>\n"
      }
      html += "</section>\n"
    }
    html += "</main>\n\(scripts.tail)\n</body>\n</html>\n"
    return html
  }

  static func renderSVG(records: [CockpitRecord], title: String, hyperparameters: Bool = false) -> String {
    let panels = panels(for: records, hyperparameters: hyperparameters)
    let gap = 12.0
    let header = 26.0
    let columnWidth = Layout.width + 2 * gap
    let top = 64.0
    // Groups flow three to a row, as cockpit's three columns; a row is as tall as its
    // tallest group.
    let grouped = groups(panels)
    let rows = stride(from: 0, to: grouped.count, by: 3).map { Array(grouped[$0..<Swift.min($0 + 3, grouped.count)]) }
    let columns = Swift.max(1, rows.map(\.count).max() ?? 1)
    let width = Double(columns) * (columnWidth + gap) + gap
    var y = top
    var body = ""
    for row in rows {
      let tallest = row.map(\.panels.count).max() ?? 0
      let height = header + Double(tallest) * (Layout.height + gap) + gap
      for (column, entry) in row.enumerated() {
        let x = gap + Double(column) * (columnWidth + gap)
        let background = background(entry.group)
        body += "<g id=\"\(entry.group.id)\" data-group=\"\(escape(entry.group.rawValue))\">\n"
        body += "<rect x=\"\(coordinate(x))\" y=\"\(coordinate(y))\" width=\"\(coordinate(columnWidth))\" height=\"\(coordinate(height))\" rx=\"8\" fill=\"\(background)\"/>\n"
        body += "<text x=\"\(coordinate(x + columnWidth / 2))\" y=\"\(coordinate(y + 18))\" font-size=\"14\" font-weight=\"bold\" text-anchor=\"middle\" letter-spacing=\"1\">\(escape(entry.group.rawValue))</text>\n"
        for (row, panel) in entry.panels.enumerated() {
          let px = x + gap
          let py = y + header + Double(row) * (Layout.height + gap)
          body += "<g id=\"\(panel.id)\" data-panel=\"\(panel.id)\" transform=\"translate(\(coordinate(px)) \(coordinate(py)))\">\n"
          body += draw(panel, records: records)
          body += "\n</g>\n"
        }
        body += "</g>\n"
      }
      y += height + gap
    }
    let svgHeight = y
    return """
      <?xml version="1.0" encoding="UTF-8"?>
      <svg xmlns="http://www.w3.org/2000/svg" width="\(coordinate(width))" height="\(coordinate(svgHeight))" viewBox="0 0 \(coordinate(width)) \(coordinate(svgHeight))" font-family="Helvetica, Arial, sans-serif">
      <title>\(escape(title))</title>
      <rect x="0" y="0" width="\(coordinate(width))" height="\(coordinate(svgHeight))" fill="#ffffff"/>
      <text x="\(coordinate(gap))" y="30" font-size="20" font-weight="bold">\(escape(title))</text>
      <text x="\(coordinate(gap))" y="50" font-size="12" fill="#555">\(escape(summary(records)))</text>
      \(body)</svg>

      """
  }
}
