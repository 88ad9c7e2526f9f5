import Foundation
import Testing

@Suite("Documentation stays true")
struct ReadmeTests {
  /// The package root, found from this file's path (Tests/TapestryTests/ReadmeTests.swift).
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()

  @Test func quickStartInReadmeIsTheCompiledExample() throws {
    let readme = try String(
      contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
    let example = try String(
      contentsOf: Self.root.appendingPathComponent("Examples/QuickStart/main.swift"),
      encoding: .utf8)
    let afterHeading = try #require(readme.range(of: "## Quick start")).upperBound
    let fenceStart = try #require(
      readme.range(of: "```swift\n", range: afterHeading..<readme.endIndex))
    let fenceEnd = try #require(
      readme.range(of: "```", range: fenceStart.upperBound..<readme.endIndex))
    #expect(String(readme[fenceStart.upperBound..<fenceEnd.lowerBound]) == example)
  }
}
