import Foundation

/// A chart that can be saved: an SVG picture and the CSV of the data behind it.
public protocol Figure {
  /// The picture, a standalone SVG document.
  var svg: String { get }
  /// The data drawn, as CSV.
  var csv: String { get }
}

/// The two files a figure was written to.
public struct FigureFiles: Sendable, Hashable {
  /// The SVG picture.
  public let svg: URL
  /// The CSV data, next to it.
  public let csv: URL
}

/// Why a figure or report file could not be written.
public enum PlotError: Error, Equatable, Sendable, CustomStringConvertible {
  /// The file at `path` could not be written, for `reason`.
  case cannotWrite(path: String, reason: String)

  /// The path and the reason.
  public var description: String {
    switch self {
    case .cannotWrite(let path, let reason): "cannot write \(path): \(reason)"
    }
  }
}

extension Figure {
  /// Writes `name.svg` and `name.csv` into `directory` (which must exist), each atomically: a
  /// reader never sees half a file. Throws ``PlotError/cannotWrite(path:reason:)``.
  @discardableResult
  public func write(to directory: URL, name: String) throws(PlotError) -> FigureFiles {
    let files = FigureFiles(
      svg: directory.appendingPathComponent(name + ".svg"),
      csv: directory.appendingPathComponent(name + ".csv"))
    try writeAtomically(svg, to: files.svg)
    try writeAtomically(csv, to: files.csv)
    return files
  }
}

/// Writes `text` as UTF-8 to `url` atomically (a temporary file renamed into place), as every
/// file of a report is written. Throws ``PlotError/cannotWrite(path:reason:)``.
public func writeAtomically(_ text: String, to url: URL) throws(PlotError) {
  do {
    try Safetensors.writeAtomically(Data(text.utf8), to: url)
  } catch SafetensorsError.io(_, let reason) {
    throw .cannotWrite(path: url.path, reason: reason)
  } catch {
    throw .cannotWrite(path: url.path, reason: "\(error)")
  }
}
