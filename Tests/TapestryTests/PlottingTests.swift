import Foundation
import Testing

@testable import Tapestry

#if canImport(FoundationXML)
  import FoundationXML
#endif

/// Whether `text` is well-formed XML, and the parser's complaint if not.
func xmlParseError(_ text: String) -> String? {
  let parser = XMLParser(data: Data(text.utf8))
  return parser.parse() ? nil : "\(parser.parserError.map { "\($0)" } ?? "unknown error")"
}

@Suite("SVG plots") struct PlottingTests {
  static let awkward = LineChart(
    title: "A <title> & \"quotes\"", xLabel: "t", yLabel: "‖∂L/∂h_t‖", yScale: .log,
    series: [
      .init(name: "clean", y: [1, 0.1, 0.01]),
      .init(name: "gaps", y: [1, .nan, 3, .infinity, -1, 0, 5]),
      .init(name: "empty", y: []),
      .init(name: "all bad", y: [.nan, -.infinity]),
    ])

  @Test func lineChartIsWellFormedXMLWhateverTheData() {
    for scale in AxisScale.allCases {
      var chart = Self.awkward
      chart.yScale = scale
      #expect(xmlParseError(chart.svg) == nil)
    }
    let nothing = LineChart(title: "", xLabel: "", yLabel: "", series: [])
    #expect(xmlParseError(nothing.svg) == nil)
  }

  @Test func legendSaysWhatWasSkipped() {
    let svg = Self.awkward.svg
    #expect(svg.contains("A &lt;title&gt; &amp; &quot;quotes&quot;"))
    #expect(svg.contains(">gaps</text>"))
    #expect(svg.contains(">(4 skipped: not finite or ≤ 0)</text>"))
    #expect(svg.contains(">all bad</text>"))
    #expect(svg.components(separatedBy: ">(no data)</text>").count == 3)
    #expect(svg.contains(">clean</text>"))
    var linear = Self.awkward
    linear.yScale = .linear
    #expect(linear.svg.contains(">(2 skipped: not finite)</text>"))
  }

  @Test func csvListsEveryPoint() {
    let chart = LineChart(
      title: "x", xLabel: "step", yLabel: "loss, mean", series: [.init(name: "a", y: [2, .nan])])
    #expect(chart.csv == "series,step,\"loss, mean\"\na,1.0,2.0\na,2.0,nan\n")
  }

  @Test func linearTicksAreNiceAndCoverTheData() {
    let axis = Axis(covering: [0.13, 0.87], scale: .linear)
    #expect(axis.ticks.map(\.markup) == ["0", "0.2", "0.4", "0.6", "0.8", "1.0"])
    #expect(axis.low <= 0.13 && axis.high >= 0.87)
    #expect(Axis.niceStep(0.3) == 0.5)
    #expect(Axis.niceStep(7) == 10)
    #expect(Axis.niceStep(2) == 2)
    let flat = Axis(covering: [3, 3], scale: .linear)
    #expect(flat.low < 3 && flat.high > 3)
  }

  @Test func logTicksAreDecades() {
    let axis = Axis(covering: [2e-5, 30], scale: .log)
    #expect(axis.low == 1e-5 && axis.high == 100)
    #expect(axis.ticks.count == 8)
    #expect(axis.ticks[0].markup == "10<tspan dy=\"-5\" font-size=\"8\">-5</tspan>")
    #expect(axis.ticks.map(\.markup).contains("1"))
    let wide = Axis(covering: [1e-30, 1e10], scale: .log)
    #expect(wide.ticks.count <= 11)
  }

  @Test func heatmapIsWellFormedAndMarksBadCells() {
    let heatmap = Heatmap(
      title: "flow", xLabel: "t", yLabel: "iteration", valueLabel: "‖∂L/∂h_t‖",
      values: [[1, 0.1, .nan], [10, 0, 1e-3]], columnValues: [1, 2, 3], rowValues: [0, 50])
    let svg = heatmap.svg
    #expect(xmlParseError(svg) == nil)
    #expect(svg.contains("(grey: 2 not shown)"))
    #expect(heatmap.csv.hasPrefix("iteration \\ t,1.0,2.0,3.0\n0.0,1.0,0.1,nan\n"))
    let empty = Heatmap(
      title: "", xLabel: "", yLabel: "", valueLabel: "", values: [], columnValues: [],
      rowValues: [])
    #expect(xmlParseError(empty.svg) == nil)
  }

  @Test func viridisEnds() {
    #expect(viridis(0) == "#440154")
    #expect(viridis(1) == "#fde725")
    #expect(viridis(.nan) == "#440154")
  }

  @Test func figuresAreWrittenAsSVGAndCSV() throws {
    let directory = FileManager.default.temporaryDirectory
      .appendingPathComponent("tapestry-plot-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let files = try Self.awkward.write(to: directory, name: "chart")
    #expect(try String(contentsOf: files.svg, encoding: .utf8) == Self.awkward.svg)
    #expect(try String(contentsOf: files.csv, encoding: .utf8) == Self.awkward.csv)
    let missing = directory.appendingPathComponent("no/such/dir")
    #expect(throws: PlotError.self) { try Self.awkward.write(to: missing, name: "chart") }
  }
}
