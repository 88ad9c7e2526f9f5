import Foundation
import Testing

@testable import TapestryCLI

@Suite("demo report") struct DemoTests {
  /// The demo's story at toy sizes, so a debug build runs it in seconds.
  static let tiny = Demo.Scale(
    hidden: 4, flowSteps: 5, remedyLength: 4, remedyIterations: 3,
    echo: DelayedEcho(delay: 2, length: 6, batchSize: 2), echoBatches: 2, addingLength: 4,
    addingIterations: 3, reservoirSize: 10, reservoirTraining: 200)

  @Test func reportHasEveryFigureAsWellFormedSVG() throws {
    let directory = FileManager.default.temporaryDirectory
      .appendingPathComponent("tapestry-demo-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: directory) }
    try Demo.makeReport(
      Demo.Options(quick: true, outputDirectory: directory.path), scale: Self.tiny)
    let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
    let svgs = files.filter { $0.hasSuffix(".svg") && !$0.hasPrefix("unrolled") }
    #expect(svgs.count >= 12)
    let html = try String(
      contentsOf: directory.appendingPathComponent("index.html"), encoding: .utf8)
    for svg in svgs {
      let text = try String(contentsOf: directory.appendingPathComponent(svg), encoding: .utf8)
      #expect(xmlParseError(text) == nil, "\(svg)")
      #expect(html.contains("<img src=\"\(svg)\""), "\(svg) is not shown")
      #expect(files.contains(svg.replacingOccurrences(of: ".svg", with: ".csv")))
    }
    #expect(files.contains("unrolled-rnn.dot"))
    #expect(!files.contains { $0.hasSuffix(".tmp") })
  }
}
