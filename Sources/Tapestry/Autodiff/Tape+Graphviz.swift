import Foundation

extension Tape {
  /// The tape as a Graphviz DOT graph: one node per entry (op name and output shape), one edge
  /// from each recorded input to the op that consumed it; constants are omitted.
  ///
  /// Render it with `dot -Tsvg tape.dot -o tape.svg`. Leaves (watched variables) are drawn as
  /// boxes, ops as ellipses. Call it before a backward pass, or pass `retainTape: true` to
  /// ``gradients(of:at:seed:createGraph:retainTape:)``, since a pass releases the entries.
  public func graphviz(name: String = "tape") -> String {
    var lines = ["digraph \(quoted(name)) {", "  rankdir=LR;", "  node [fontname=\"Helvetica\"];"]
    for (position, entry) in entries.enumerated() {
      let shape = entry.inputs.isEmpty ? "box" : "ellipse"
      let label = "%\(position) \(entry.op)\\n\(entry.output.shape)"
      lines.append("  n\(position) [label=\(quoted(label)), shape=\(shape)];")
    }
    for (position, entry) in entries.enumerated() {
      for input in entry.inputs.compactMap({ $0 }) {
        lines.append("  n\(input) -> n\(position);")
      }
    }
    lines.append("}")
    return lines.joined(separator: "\n")
  }

  private func quoted(_ text: String) -> String {
    "\"" + text.replacingOccurrences(of: "\"", with: "\\\"") + "\""
  }
}
