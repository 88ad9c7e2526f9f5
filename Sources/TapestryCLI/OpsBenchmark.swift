// W6, per-op overhead, the Swift side of the anchors' torch and micrograd scripts: a chain of
// 10,000 elementwise ops and a chain of 1,000 matrix products, each with its backward pass.

import Foundation
import Tapestry

/// The W6 workloads.
enum OpsBenchmark {
  /// Runs W6 by `plan` and returns one record per measurement.
  static func run(plan: TimingPlan, threads: Int) -> [BenchRecord] {
    var records: [BenchRecord] = []
    for size in [1, 32] {
      for recordParameters in [true, false] {
        let times = plan.measure {
          elementwiseChain(size: size, recordParameters: recordParameters)
        }
        records.append(
          BenchRecord(
            workload: "W6", cell: "elementwise",
            size: "\(size)", variant: recordParameters ? "a,b recorded" : "only x recorded",
            threads: threads, medianMilliseconds: times.median,
            minimumMilliseconds: times.minimum, reps: times.samples.count,
            processorMedianMilliseconds: times.processorMedian,
            microsecondsPerOp: times.median * 1000 / Double(2 * elementwisePairs)))
      }
    }
    let chain = matmulChainInputs()
    let times = plan.measure { matmulChain(chain) }
    let flops = 3 * 2 * pow(Double(chainSize), 3) * Double(chainLength)
    records.append(
      BenchRecord(
        workload: "W6", cell: "matmul_chain", size: "\(chainSize)", variant: "fwd+bwd",
        threads: threads, medianMilliseconds: times.median, minimumMilliseconds: times.minimum,
        reps: times.samples.count,
        processorMedianMilliseconds: times.processorMedian, gigaflops: flops / (times.median * 1e6),
        microsecondsPerOp: times.median * 1000 / Double(chainLength)))
    return records
  }

  /// Multiply-add pairs in the elementwise chain: 10,000 ops, as in W6.
  static let elementwisePairs = 5000
  /// Matrix size and length of the matmul chain.
  static let chainSize = 128
  /// Products in the matmul chain.
  static let chainLength = 1000

  /// `y = x; repeat: y = y*a; y = y+b`, then `sum(y)` and the backward pass.
  ///
  /// `y` converges to b / (1 − a) = 1, so no value overflows or becomes subnormal.
  static func elementwiseChain(size: Int, recordParameters: Bool) {
    let x = Tensor<Float>.uniform([size], in: -1..<1, seed: 0)
    let a = Tensor<Float>.filled([size], with: 0.9)
    let b = Tensor<Float>.filled([size], with: 0.1)
    let points = recordParameters ? [x, a, b] : [x]
    blackHole(
      gradients(at: points) { variables in
        let (a, b) = recordParameters ? (variables[1], variables[2]) : (a, b)
        var y = variables[0]
        for _ in 0..<elementwisePairs {
          y = y * a
          y = y + b
        }
        return y.sum()
      })
  }

  /// X ~ N(0, 1) and an orthogonal W (a Householder reflection, I − 2vvᵀ/‖v‖²), which keeps the
  /// values of the chain O(1) however long it is.
  static func matmulChainInputs() -> (x: Tensor<Float>, w: Tensor<Float>) {
    let n = chainSize
    let v = Tensor<Float>.normal([n], seed: 2).scalars
    let norm = v.reduce(0) { $0 + $1 * $1 }
    var w = [Float](repeating: 0, count: n * n)
    for i in 0..<n {
      for j in 0..<n { w[i * n + j] = (i == j ? 1 : 0) - 2 * v[i] * v[j] / norm }
    }
    return (Tensor<Float>.normal([n, n], seed: 3), Tensor(shape: [n, n], scalars: w))
  }

  /// `y = X; repeat: y = y·W`, then `sum(y)` and the backward pass to X and W.
  static func matmulChain(_ inputs: (x: Tensor<Float>, w: Tensor<Float>)) {
    blackHole(
      gradients(at: [inputs.x, inputs.w]) { variables in
        var y = variables[0]
        for _ in 0..<chainLength { y = matmul(y, variables[1]) }
        return y.sum()
      })
  }

}
