import Foundation
import Tapestry
import TapestryTestSupport
import Testing

@Suite("unrolled graph as DOT") struct GraphvizTests {
  /// Node names declared in `dot` (`nN [label=…]`) and the end points of every edge.
  static func parse(_ dot: String) -> (declared: Set<String>, edges: [(String, String)]) {
    var declared = Set<String>()
    var edges: [(String, String)] = []
    for line in dot.split(separator: "\n") {
      let trimmed = line.trimmingCharacters(in: .whitespaces)
      let words = trimmed.split(separator: " ")
      if words.count >= 3, words[1] == "->" {
        edges.append((String(words[0]), String(words[2].prefix { $0 != ";" })))
      } else if trimmed.hasPrefix("n"), trimmed.contains("[label=") {
        declared.insert(String(trimmed.prefix { $0 != " " }))
      }
    }
    return (declared, edges)
  }

  @Test(
    "the unrolled graph is clustered by step, balanced, and declares every node",
    arguments: ["rnn", "lstm"])
  func unrolledGraphParses(cellName: String) {
    let inputs = randomTensor([3, 1, 2], seed: 2)
    let dot =
      cellName == "rnn"
      ? unrolledGraphviz(of: RNNCell<Double>(inputSize: 2, hiddenSize: 3, seed: 1), inputs: inputs)
      {
        $0.finalState.sum()
      }
      : unrolledGraphviz(of: LSTMCell<Double>(inputSize: 2, hiddenSize: 3, seed: 1), inputs: inputs)
      { $0.finalState.hidden.sum() }
    #expect(dot.hasPrefix("digraph \"unrolled\" {") && dot.hasSuffix("}"))
    var depth = 0
    for character in dot {
      if character == "{" { depth += 1 }
      if character == "}" { depth -= 1 }
      #expect(depth >= 0)
    }
    #expect(depth == 0)
    for id in ["parameters", "t1", "t2", "t3", "loss"] {
      #expect(dot.contains("subgraph cluster_\(id) {"))
    }
    let (declared, edges) = Self.parse(dot)
    #expect(!edges.isEmpty)
    for (from, to) in edges {
      #expect(declared.contains(from) && declared.contains(to), "edge \(from) -> \(to)")
    }
    #expect(dot.contains("penwidth="))
    #expect(dot.contains("‖∇‖"))
  }

  @Test func clustersHoldTheirStepsOps() {
    let cell = RNNCell<Double>(inputSize: 2, hiddenSize: 3, seed: 1)
    let dot = unrolledGraphviz(of: cell, inputs: randomTensor([2, 1, 2])) { $0.finalState.sum() }
    let lines = dot.split(separator: "\n").map(String.init)
    guard let start = lines.firstIndex(of: "  subgraph cluster_t2 {") else {
      Issue.record("no cluster for step 2")
      return
    }
    let body = lines[start...].prefix { $0 != "  }" }
    // One step of the RNN: two products, the sum of them, two bias additions, tanh.
    #expect(body.contains { $0.contains("matmul") })
    #expect(body.contains { $0.contains("tanh") })
  }
}
