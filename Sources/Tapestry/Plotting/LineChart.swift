import Foundation

/// A line chart of one or more series, as SVG, with its data as CSV: axes with ticks and labels,
/// a linear or logarithmic y axis, and a legend.
///
/// Points that cannot be drawn (NaN, ±infinity, and on a log axis values ≤ 0) are skipped, the
/// line is broken there, and the legend says how many were skipped; a series with no drawable
/// point is listed as "no data". Nothing in the data can make drawing fail.
///
/// ```swift
/// let chart = LineChart(
///   title: "Gradient norm through time", xLabel: "time step t", yLabel: "‖∂L/∂h_t‖",
///   yScale: .log, series: [.init(name: "ρ = 0.5", y: norms)])
/// try chart.write(to: reportDirectory, name: "vanishing")  // vanishing.svg and vanishing.csv
/// ```
public struct LineChart: Figure, Sendable {
  /// One line: points (x[i], y[i]).
  public struct Series: Sendable, Hashable {
    /// The name shown in the legend and in the CSV.
    public var name: String
    /// The x coordinates.
    public var x: [Double]
    /// The y coordinates, one per x.
    public var y: [Double]

    /// A series of the points (x[i], y[i]). Traps unless `x` and `y` have the same length.
    public init(name: String, x: [Double], y: [Double]) {
      precondition(
        x.count == y.count,
        "LineChart.Series '\(name)': \(x.count) x values but \(y.count) y values")
      self.name = name
      self.x = x
      self.y = y
    }

    /// A series of `y` against 1, 2, 3, …: a value per time step or per iteration.
    public init(name: String, y: [Double]) {
      self.init(name: name, x: y.indices.map { Double($0 + 1) }, y: y)
    }
  }

  /// The heading above the chart.
  public var title: String
  /// The label under the x axis.
  public var xLabel: String
  /// The label beside the y axis.
  public var yLabel: String
  /// How y values map to heights.
  public var yScale: AxisScale
  /// The lines, drawn in order with the colours of the legend.
  public var series: [Series]
  /// The drawing's size in pixels.
  public var width = 720.0
  /// The drawing's height in pixels.
  public var height = 400.0

  /// A chart of `series` with the given labels and y scale.
  public init(
    title: String, xLabel: String, yLabel: String, yScale: AxisScale = .linear,
    series: [Series]
  ) {
    self.title = title
    self.xLabel = xLabel
    self.yLabel = yLabel
    self.yScale = yScale
    self.series = series
  }

  /// Whether (x, y) can be drawn on this chart.
  private func drawable(_ x: Double, _ y: Double) -> Bool {
    x.isFinite && y.isFinite && (yScale == .linear || y > 0)
  }

  /// What the legend says was left out of `series`, if anything: `(no data)`, or how many
  /// points were skipped and why.
  private func legendNote(_ series: Series) -> String? {
    let skipped = zip(series.x, series.y).filter { !drawable($0, $1) }.count
    if series.x.isEmpty || skipped == series.x.count { return "(no data)" }
    guard skipped > 0 else { return nil }
    let reason = yScale == .log ? "not finite or ≤ 0" : "not finite"
    return "(\(skipped) skipped: \(reason))"
  }

  /// The chart as a standalone SVG document.
  public var svg: String {
    let points = series.flatMap { zip($0.x, $0.y).filter { drawable($0, $1) } }
    let xAxis = Axis(covering: points.map(\.0), scale: .linear)
    let yAxis = Axis(covering: points.map(\.1), scale: yScale)
    let (left, top, right, bottom) = (72.0, 40.0, width - 200, height - 52)
    func px(_ x: Double) -> Double { left + xAxis.fraction(x) * (right - left) }
    func py(_ y: Double) -> Double { bottom - yAxis.fraction(y) * (bottom - top) }

    var document = SVGDocument(width: width, height: height)
    document.text(title, x: (left + right) / 2, y: 22, anchor: "middle", size: 15, weight: "bold")
    for tick in yAxis.ticks {
      document.line(x1: left, y1: py(tick.value), x2: right, y2: py(tick.value), stroke: "#e5e5e5")
      document.text(
        markup: tick.markup, x: left - 6, y: py(tick.value) + 4, anchor: "end", size: 11)
    }
    for tick in xAxis.ticks {
      document.line(x1: px(tick.value), y1: top, x2: px(tick.value), y2: bottom, stroke: "#f0f0f0")
      document.text(
        markup: tick.markup, x: px(tick.value), y: bottom + 16, anchor: "middle", size: 11)
    }
    document.rect(
      x: left, y: top, width: right - left, height: bottom - top, fill: "none", stroke: "#444")
    document.text(xLabel, x: (left + right) / 2, y: height - 14, anchor: "middle", size: 13)
    document.text(yLabel, x: 18, y: (top + bottom) / 2, anchor: "middle", size: 13, rotation: -90)

    var legendY = top + 8
    for (index, line) in series.enumerated() {
      let color = seriesColors[index % seriesColors.count]
      var segment: [(x: Double, y: Double)] = []
      func flush() {
        if segment.count == 1 {
          document.circle(x: segment[0].x, y: segment[0].y, radius: 2.5, fill: color)
        } else if segment.count > 1 {
          document.polyline(segment, stroke: color)
        }
        segment = []
      }
      for (x, y) in zip(line.x, line.y) {
        if drawable(x, y) { segment.append((px(x), py(y))) } else { flush() }
      }
      flush()
      document.line(
        x1: right + 14, y1: legendY, x2: right + 36, y2: legendY, stroke: color, width: 3)
      document.text(line.name, x: right + 42, y: legendY + 4, size: 11)
      legendY += 20
      // The note goes on a line of its own, so that it fits beside the chart.
      if let note = legendNote(line) {
        document.text(note, x: right + 42, y: legendY, size: 10, fill: "#666")
        legendY += 14
      }
    }
    return document.text
  }

  /// The data as CSV with a header `series,x,y` and one line per point (skipped points too,
  /// written as `nan`, `inf`, …), every series in order.
  public var csv: String {
    var lines = ["series,\(csvField(xLabel)),\(csvField(yLabel))"]
    for line in series {
      for (x, y) in zip(line.x, line.y) { lines.append("\(csvField(line.name)),\(x),\(y)") }
    }
    return lines.joined(separator: "\n") + "\n"
  }
}
