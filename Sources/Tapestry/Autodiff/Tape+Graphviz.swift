import Foundation

/// A run of consecutive tape entries drawn together in one box (a Graphviz cluster): one time
/// step of an unrolled recurrent network, say.
public struct GraphvizCluster: Sendable, Hashable {
  /// The cluster's name in the DOT text, after `cluster_`: letters, digits and `_` only.
  public let id: String
  /// The caption drawn on the box.
  public let label: String
  /// The tape positions of the entries inside.
  public let entries: Range<Int>

  /// A cluster `cluster_<id>` captioned `label` holding the entries at `entries`. Traps when
  /// `id` has a character other than a letter, a digit or `_`.
  public init(id: String, label: String, entries: Range<Int>) {
    precondition(
      !id.isEmpty && id.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") },
      "GraphvizCluster: id '\(id)' must be letters, digits and _ only")
    self.id = id
    self.label = label
    self.entries = entries
  }
}

extension Tape {
  /// The tape as a Graphviz DOT graph: one node per entry (op name and output shape), one edge
  /// from each recorded input to the op that consumed it; constants are omitted.
  ///
  /// Render it with `dot -Tsvg tape.dot -o tape.svg`. Leaves (watched variables) are drawn as
  /// boxes, ops as ellipses. Call it before a backward pass, or pass `retainTape: true` to
  /// ``gradients(of:at:seed:createGraph:retainTape:)``, since a pass releases the entries.
  ///
  /// - Parameters:
  ///   - clusters: runs of entries to box together (`subgraph cluster_<id>`), such as the time
  ///     steps of an unrolled network; they must not overlap. Entries in none are drawn outside.
  ///   - gradientNorms: the gradient norm of each entry's output, by tape position (as
  ///     ``gradientNormsOfEveryEntry(from:seed:)`` returns them), or empty. When given, each
  ///     node shows its norm and each edge is coloured by the norm of the tensor it carries, on
  ///     a logarithmic scale from blue (smallest) to red (largest); an edge whose tensor got no
  ///     gradient is grey and dashed.
  public func graphviz(
    name: String = "tape", clusters: [GraphvizCluster] = [], gradientNorms: [Double?] = []
  ) -> String {
    // One snapshot of the entries: reading them is not free on every version of the tape.
    let entries = self.entries
    func norm(_ position: Int) -> Double? {
      position < gradientNorms.count ? gradientNorms[position] : nil
    }
    let logs = gradientNorms.compactMap { $0 }.filter { $0 > 0 && $0.isFinite }.map(log10)
    let (low, high) = (logs.min() ?? 0, logs.max() ?? 0)
    var lines = ["digraph \(quoted(name)) {", "  rankdir=LR;", "  node [fontname=\"Helvetica\"];"]
    if !logs.isEmpty {
      let caption = String(
        format: "edge colour: gradient norm of the tensor carried, blue %.1e to red %.1e",
        pow(10, low), pow(10, high))
      lines.append("  label=\(quoted(caption));")
    }
    func node(_ position: Int) -> String {
      let entry = entries[position]
      let shape = entry.inputs.isEmpty ? "box" : "ellipse"
      var label = "%\(position) \(entry.op)\\n\(entry.outputShape)"
      if let norm = norm(position) { label += String(format: "\\n‖∇‖ %.2e", norm) }
      return "n\(position) [label=\(quoted(label)), shape=\(shape)];"
    }
    var clustered = Set<Int>()
    for cluster in clusters {
      let positions = cluster.entries.clamped(to: 0..<entries.count)
      lines.append("  subgraph cluster_\(cluster.id) {")
      lines.append("    label=\(quoted(cluster.label));")
      lines.append("    style=rounded; color=gray60;")
      for position in positions {
        lines.append("    " + node(position))
        clustered.insert(position)
      }
      lines.append("  }")
    }
    for position in entries.indices where !clustered.contains(position) {
      lines.append("  " + node(position))
    }
    for (position, entry) in entries.enumerated() {
      for input in entry.inputs.compactMap({ $0 }) {
        let style = gradientNorms.isEmpty ? "" : edgeStyle(norm(input), low: low, high: high)
        lines.append("  n\(input) -> n\(position)\(style);")
      }
    }
    lines.append("}")
    return lines.joined(separator: "\n")
  }

  /// Runs a backward pass from `output` (seeded with `seed`, or ones for a one-element output)
  /// that keeps the entries, and returns the norm of the gradient that reached each entry's
  /// output, by tape position: `nil` where none arrived. For
  /// ``graphviz(name:clusters:gradientNorms:)``.
  public func gradientNormsOfEveryEntry(from output: Tensor<Scalar>, seed: Tensor<Scalar>? = nil)
    -> [Double?]
  {
    let entries = self.entries
    var norms = [Double?](repeating: nil, count: entries.count)
    for position in entries.indices {
      addGradientHook(at: position) { gradient in
        norms[position] = gradient.euclideanNorm
        return gradient
      }
    }
    _ = gradients(of: output, at: [], seed: seed, retainTape: true)
    return norms
  }

  /// The DOT attributes of an edge carrying a tensor whose gradient norm is `norm` (`nil`: no
  /// gradient arrived), coloured on the log scale `low...high` (base-10 exponents).
  private func edgeStyle(_ norm: Double?, low: Double, high: Double) -> String {
    guard let norm, norm > 0, norm.isFinite else { return " [color=gray70, style=dashed]" }
    let fraction = high > low ? (log10(norm) - low) / (high - low) : 1
    // Hue 0.67 is blue, 0 red, in Graphviz's "H S V" colour syntax.
    let hue = 0.67 * (1 - fraction)
    return String(format: " [color=\"%.3f 0.85 0.85\", penwidth=%.2f]", hue, 1 + 2.5 * fraction)
  }

  private func quoted(_ text: String) -> String {
    "\"" + text.replacingOccurrences(of: "\"", with: "\\\"") + "\""
  }
}
