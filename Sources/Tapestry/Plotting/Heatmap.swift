import Foundation

/// A grid of values drawn as coloured cells, with a colour bar, as SVG; its data as CSV. Made for
/// the gradient norm at each time step (columns) over training iterations (rows).
///
/// Colours follow the viridis map, dark blue (small) to yellow (large), on a logarithmic scale by
/// default. Cells that cannot be coloured (NaN, ±infinity, and on a log scale values ≤ 0) are
/// drawn grey, and the colour bar's caption says how many there are.
public struct Heatmap: Figure, Sendable {
  /// The heading above the chart.
  public var title: String
  /// The label under the x axis (the columns).
  public var xLabel: String
  /// The label beside the y axis (the rows).
  public var yLabel: String
  /// The caption of the colour bar: what the colours measure.
  public var valueLabel: String
  /// The values, `values[row][column]`; row 0 is drawn at the top.
  public var values: [[Double]]
  /// The x value of each column (a time step, say).
  public var columnValues: [Double]
  /// The y value of each row (a training iteration, say).
  public var rowValues: [Double]
  /// How values map to colours.
  public var scale: AxisScale
  /// The drawing's width in pixels.
  public var width = 720.0
  /// The drawing's height in pixels.
  public var height = 420.0

  /// A heatmap of `values` (`rows × columns`, every row as long as `columnValues`, as many rows
  /// as `rowValues`). Traps when the sizes disagree.
  public init(
    title: String, xLabel: String, yLabel: String, valueLabel: String, values: [[Double]],
    columnValues: [Double], rowValues: [Double], scale: AxisScale = .log
  ) {
    precondition(
      values.count == rowValues.count && values.allSatisfy { $0.count == columnValues.count },
      "Heatmap '\(title)': values must be \(rowValues.count) rows of \(columnValues.count)")
    self.title = title
    self.xLabel = xLabel
    self.yLabel = yLabel
    self.valueLabel = valueLabel
    self.values = values
    self.columnValues = columnValues
    self.rowValues = rowValues
    self.scale = scale
  }

  private func colourable(_ value: Double) -> Bool {
    value.isFinite && (scale == .linear || value > 0)
  }

  /// The heatmap as a standalone SVG document.
  public var svg: String {
    let shown = values.joined().filter(colourable)
    let bar = Axis(covering: shown, scale: scale, target: 5)
    let (left, top, right, bottom) = (72.0, 40.0, width - 150, height - 52)
    let rows = Swift.max(values.count, 1)
    let columns = Swift.max(columnValues.count, 1)
    let (cellWidth, cellHeight) = ((right - left) / Double(columns), (bottom - top) / Double(rows))

    var document = SVGDocument(width: width, height: height)
    document.text(title, x: (left + right) / 2, y: 22, anchor: "middle", size: 15, weight: "bold")
    // Crisp edges and a hair of overlap: anti-aliased cell edges would show as seams.
    document.add("<g shape-rendering=\"crispEdges\">")
    for (row, rowData) in values.enumerated() {
      for (column, value) in rowData.enumerated() {
        let fill = colourable(value) ? viridis(bar.fraction(value)) : "#bbbbbb"
        document.rect(
          x: left + Double(column) * cellWidth, y: top + Double(row) * cellHeight,
          width: cellWidth + 0.5, height: cellHeight + 0.5, fill: fill)
      }
    }
    document.rect(
      x: left, y: top, width: right - left, height: bottom - top, fill: "none", stroke: "#444")
    for column in Heatmap.labelledIndices(columnValues.count) {
      let x = left + (Double(column) + 0.5) * cellWidth
      document.line(x1: x, y1: bottom, x2: x, y2: bottom + 4, stroke: "#444")
      document.text(
        Heatmap.label(columnValues[column]), x: x, y: bottom + 16, anchor: "middle", size: 11)
    }
    for row in Heatmap.labelledIndices(rowValues.count) {
      let y = top + (Double(row) + 0.5) * cellHeight
      document.line(x1: left - 4, y1: y, x2: left, y2: y, stroke: "#444")
      document.text(Heatmap.label(rowValues[row]), x: left - 6, y: y + 4, anchor: "end", size: 11)
    }
    document.text(xLabel, x: (left + right) / 2, y: height - 14, anchor: "middle", size: 13)
    document.text(yLabel, x: 18, y: (top + bottom) / 2, anchor: "middle", size: 13, rotation: -90)

    // The colour bar: 64 bands from the bottom (low) to the top (high).
    let (barLeft, barWidth) = (right + 24, 16.0)
    let bands = 64
    for band in 0..<bands {
      let fraction = (Double(band) + 0.5) / Double(bands)
      let y = bottom - Double(band + 1) * (bottom - top) / Double(bands)
      document.rect(
        x: barLeft, y: y, width: barWidth, height: (bottom - top) / Double(bands) + 0.5,
        fill: viridis(fraction))
    }
    document.add("</g>")
    document.rect(
      x: barLeft, y: top, width: barWidth, height: bottom - top, fill: "none", stroke: "#444")
    for tick in bar.ticks {
      let y = bottom - bar.fraction(tick.value) * (bottom - top)
      document.line(
        x1: barLeft + barWidth, y1: y, x2: barLeft + barWidth + 4, y2: y, stroke: "#444")
      document.text(markup: tick.markup, x: barLeft + barWidth + 7, y: y + 4, size: 11)
    }
    let hidden = values.joined().count - shown.count
    let caption = valueLabel + (hidden > 0 ? " (grey: \(hidden) not shown)" : "")
    document.text(
      caption, x: barLeft + barWidth + 56, y: (top + bottom) / 2, anchor: "middle", size: 12,
      rotation: 90)
    return document.text
  }

  /// The values as CSV: a header of the y label and each column value, then one line per row,
  /// its row value first.
  public var csv: String {
    var lines = [
      ([csvField(yLabel + " \\ " + xLabel)] + columnValues.map { "\($0)" }).joined(separator: ",")
    ]
    for (rowValue, row) in zip(rowValues, values) {
      lines.append((["\(rowValue)"] + row.map { "\($0)" }).joined(separator: ","))
    }
    return lines.joined(separator: "\n") + "\n"
  }

  /// About six evenly spread indices out of `count`, first and last included.
  private static func labelledIndices(_ count: Int) -> [Int] {
    guard count > 0 else { return [] }
    let every = Swift.max(1, (count + 5) / 6)
    var indices = Array(stride(from: 0, to: count, by: every))
    if let last = indices.last, last != count - 1, count - 1 - last >= every / 2 {
      indices.append(count - 1)
    }
    return indices
  }

  /// A row or column value as a label: whole numbers without decimals.
  private static func label(_ value: Double) -> String {
    value == value.rounded() && Swift.abs(value) < 1e9
      ? String(Int(value)) : String(format: "%.3g", value)
  }
}

/// The viridis colour map at `fraction` (clamped to 0…1), interpolated between nine of its
/// colours.
func viridis(_ fraction: Double) -> String {
  let stops: [(Double, Double, Double)] = [
    (68, 1, 84), (72, 40, 120), (62, 74, 137), (49, 104, 142), (38, 130, 142),
    (31, 158, 137), (53, 183, 121), (109, 205, 89), (180, 222, 44), (253, 231, 37),
  ]
  let position =
    Swift.min(Swift.max(fraction.isFinite ? fraction : 0, 0), 1) * Double(stops.count - 1)
  let index = Swift.min(Int(position), stops.count - 2)
  let t = position - Double(index)
  let (a, b) = (stops[index], stops[index + 1])
  func channel(_ x: Double, _ y: Double) -> Int { Int((x + (y - x) * t).rounded()) }
  return String(format: "#%02x%02x%02x", channel(a.0, b.0), channel(a.1, b.1), channel(a.2, b.2))
}
