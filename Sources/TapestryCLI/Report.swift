// The demo's report: figures written as SVG + CSV into a folder, an index.html that shows them
// in order with a short explanation each, and a summary table on the terminal.

import Foundation
import Tapestry

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A report folder being filled, figure by figure.
final class Report {
  /// One figure (or linked file) of a section.
  private struct Item {
    let name: String
    let caption: String
    /// The file shown inline (`name.svg`), or `nil` for a file only linked.
    let image: String?
    /// The files linked under the picture.
    let links: [String]
  }

  private struct Section {
    let title: String
    let introduction: String
    var items: [Item] = []
  }

  /// The folder the files go to.
  let directory: URL
  private var sections: [Section] = []
  /// One line per figure for the terminal: the file and the finding.
  private var summary: [(file: String, finding: String)] = []

  /// A report writing into `directory`, created if missing.
  init(directory: URL) throws {
    self.directory = directory
    try createDirectory(directory)
  }

  /// Starts a new section; figures added next go under it.
  func section(_ title: String, _ introduction: String) {
    sections.append(Section(title: title, introduction: introduction))
  }

  /// Writes `figure` as `name.svg` and `name.csv` and adds it to the current section with its
  /// caption; `finding` is its line in the terminal summary.
  func add(_ figure: some Figure, name: String, caption: String, finding: String) throws {
    try figure.write(to: directory, name: name)
    append(
      Item(
        name: name, caption: caption, image: name + ".svg", links: [name + ".csv"]),
      finding: finding)
  }

  /// Writes `text` as `fileName` and links it from the current section, showing `image` (a file
  /// already in the folder) if given.
  func addFile(
    _ text: String, fileName: String, image: String?, caption: String, finding: String
  ) throws {
    try writeAtomically(text, to: directory.appendingPathComponent(fileName))
    append(
      Item(name: fileName, caption: caption, image: image, links: [fileName]), finding: finding)
  }

  private func append(_ item: Item, finding: String) {
    if sections.isEmpty { section("Figures", "") }
    sections[sections.count - 1].items.append(item)
    summary.append((item.image ?? item.name, finding))
  }

  /// Writes index.html and prints the summary table.
  func finish(title: String, introduction: String, footer: String) throws {
    try writeAtomically(
      html(title: title, introduction: introduction, footer: footer),
      to: directory.appendingPathComponent("index.html"))
    let width = summary.map(\.file.count).max() ?? 0
    print("\nfigure".padding(toLength: width + 3, withPad: " ", startingAt: 0) + "finding")
    for line in summary {
      print(
        "  " + line.file.padding(toLength: width + 2, withPad: " ", startingAt: 0) + line.finding)
    }
    print("\nreport: \(directory.appendingPathComponent("index.html").path)")
  }

  private func html(title: String, introduction: String, footer: String) -> String {
    var body: [String] = [
      "<!DOCTYPE html>", "<html lang=\"en\">", "<head>", "<meta charset=\"utf-8\">",
      "<title>\(escapedForXML(title))</title>",
      """
      <style>
      body { font-family: Helvetica, Arial, sans-serif; max-width: 800px; margin: 2em auto;
             padding: 0 1em; color: #222; line-height: 1.45; }
      h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
      figure { margin: 1.5em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
      figcaption { font-size: 0.92em; color: #444; } code { background: #f4f4f4; padding: 0 3px; }
      </style>
      """,
      "</head>", "<body>", "<h1>\(escapedForXML(title))</h1>",
      "<p>\(escapedForXML(introduction))</p>",
    ]
    for section in sections {
      body.append("<h2>\(escapedForXML(section.title))</h2>")
      if !section.introduction.isEmpty {
        body.append("<p>\(escapedForXML(section.introduction))</p>")
      }
      for item in section.items {
        body.append("<figure id=\"\(escapedForXML(item.name))\">")
        if let image = item.image {
          body.append(
            "<img src=\"\(escapedForXML(image))\" alt=\"\(escapedForXML(item.caption))\">")
        }
        let links = item.links.map { "<a href=\"\(escapedForXML($0))\">\(escapedForXML($0))</a>" }
        body.append(
          "<figcaption>\(escapedForXML(item.caption)) Data: "
            + links.joined(separator: ", ") + ".</figcaption>")
        body.append("</figure>")
      }
    }
    body += ["<p><small>\(escapedForXML(footer))</small></p>", "</body>", "</html>"]
    return body.joined(separator: "\n") + "\n"
  }
}

/// One line of progress for a long step: a bar redrawn in place on a terminal, then the final
/// line; only the final line when the output is a file or a pipe.
struct Progress {
  private let label: String
  private let total: Int
  private let isTerminal = isatty(STDOUT_FILENO) != 0
  private let start = ContinuousClock.now
  private var lastDrawn = -1

  /// A bar for `total` units of work described by `label`.
  init(_ label: String, total: Int) {
    self.label = label
    self.total = Swift.max(total, 1)
  }

  /// Shows that `done` units are finished, with `detail` (a loss, say) after the bar.
  mutating func update(_ done: Int, detail: String = "") {
    guard isTerminal else { return }
    let filled = 24 * Swift.min(done, total) / total
    guard filled != lastDrawn || done == total else { return }
    lastDrawn = filled
    let bar = String(repeating: "=", count: filled) + String(repeating: " ", count: 24 - filled)
    Progress.write("\r  \(label) [\(bar)] \(done)/\(total) \(detail)\u{1B}[K")
  }

  /// Ends the bar with `result` and the time taken.
  func finish(_ result: String) {
    let seconds = (ContinuousClock.now - start) / .seconds(1)
    let line = "  \(label): \(result) (\(String(format: "%.1f", seconds)) s)"
    Progress.write((isTerminal ? "\r" : "") + line + (isTerminal ? "\u{1B}[K" : "") + "\n")
  }

  private static func write(_ text: String) {
    print(text, terminator: "")
    fflush(nil)
  }
}
