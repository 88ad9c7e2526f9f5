import Foundation

// The few SVG pieces the charts need, written as text: no dependency, and the output is small
// enough to read and to diff.

/// `text` with the five XML special characters escaped, safe inside an element or an attribute.
public func escapedForXML(_ text: String) -> String {
  var escaped = ""
  escaped.reserveCapacity(text.count)
  for character in text {
    switch character {
    case "&": escaped += "&amp;"
    case "<": escaped += "&lt;"
    case ">": escaped += "&gt;"
    case "\"": escaped += "&quot;"
    case "'": escaped += "&apos;"
    default: escaped.append(character)
    }
  }
  return escaped
}

/// An SVG document under construction: elements appended in drawing order.
struct SVGDocument {
  let width: Double
  let height: Double
  private(set) var elements: [String] = []

  init(width: Double, height: Double) {
    self.width = width
    self.height = height
  }

  /// A coordinate or length with one decimal: enough for a screen, short in the file.
  static func number(_ value: Double) -> String { String(format: "%.1f", value) }

  mutating func add(_ element: String) { elements.append(element) }

  mutating func line(
    x1: Double, y1: Double, x2: Double, y2: Double, stroke: String, width: Double = 1,
    dashed: Bool = false
  ) {
    let dash = dashed ? " stroke-dasharray=\"3,3\"" : ""
    add(
      "<line x1=\"\(Self.number(x1))\" y1=\"\(Self.number(y1))\" x2=\"\(Self.number(x2))\" "
        + "y2=\"\(Self.number(y2))\" stroke=\"\(stroke)\" stroke-width=\"\(Self.number(width))\""
        + "\(dash)/>")
  }

  mutating func rect(
    x: Double, y: Double, width: Double, height: Double, fill: String, stroke: String? = nil
  ) {
    let outline = stroke.map { " stroke=\"\($0)\"" } ?? ""
    add(
      "<rect x=\"\(Self.number(x))\" y=\"\(Self.number(y))\" width=\"\(Self.number(width))\" "
        + "height=\"\(Self.number(height))\" fill=\"\(fill)\"\(outline)/>")
  }

  /// Text at (x, y); `anchor` is `start`, `middle` or `end`; `rotation` in degrees about (x, y).
  /// `markup` is inserted as is (already escaped, possibly with `tspan`s); use ``text(_:…)``
  /// for plain text.
  mutating func text(
    markup: String, x: Double, y: Double, anchor: String = "start", size: Double = 12,
    rotation: Double = 0, weight: String = "normal", fill: String = "#222"
  ) {
    let transform =
      rotation == 0
      ? "" : " transform=\"rotate(\(Self.number(rotation)) \(Self.number(x)) \(Self.number(y)))\""
    add(
      "<text x=\"\(Self.number(x))\" y=\"\(Self.number(y))\" text-anchor=\"\(anchor)\" "
        + "font-size=\"\(Self.number(size))\" font-weight=\"\(weight)\" fill=\"\(fill)\""
        + "\(transform)>"
        + "\(markup)</text>")
  }

  /// Plain text, escaped.
  mutating func text(
    _ plain: String, x: Double, y: Double, anchor: String = "start", size: Double = 12,
    rotation: Double = 0, weight: String = "normal", fill: String = "#222"
  ) {
    text(
      markup: escapedForXML(plain), x: x, y: y, anchor: anchor, size: size, rotation: rotation,
      weight: weight, fill: fill)
  }

  mutating func polyline(_ points: [(x: Double, y: Double)], stroke: String, width: Double = 1.8) {
    let coordinates = points.map { "\(Self.number($0.x)),\(Self.number($0.y))" }
      .joined(separator: " ")
    add(
      "<polyline points=\"\(coordinates)\" fill=\"none\" stroke=\"\(stroke)\" "
        + "stroke-width=\"\(Self.number(width))\" stroke-linejoin=\"round\"/>")
  }

  mutating func circle(x: Double, y: Double, radius: Double, fill: String) {
    add(
      "<circle cx=\"\(Self.number(x))\" cy=\"\(Self.number(y))\" r=\"\(Self.number(radius))\" "
        + "fill=\"\(fill)\"/>")
  }

  /// The finished document.
  var text: String {
    let header =
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Self.number(width))\" "
      + "height=\"\(Self.number(height))\" viewBox=\"0 0 \(Self.number(width)) "
      + "\(Self.number(height))\" font-family=\"Helvetica, Arial, sans-serif\">"
    let background = "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>"
    return ([header, background] + elements + ["</svg>"]).joined(separator: "\n") + "\n"
  }
}

/// Ten colours that stay distinguishable for most readers (Tableau 10).
let seriesColors = [
  "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
  "#bcbd22", "#17becf",
]
