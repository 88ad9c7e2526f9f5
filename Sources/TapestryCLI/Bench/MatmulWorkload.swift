// W0: square FP32 matrix products, timed as the anchors time OpenBLAS (one call runs enough
// products to last ~30 ms), and the skinny products of a recurrent step, batch rows times a
// transposed weight matrix, which is what W1–W4 spend their matmul time on.

import Foundation
import Tapestry

/// The W0 workloads.
enum MatmulWorkload {
  /// Square sizes measured by default (the anchors also run 2048).
  static let squareSizes = [128, 256, 512, 1024]

  /// `(B, H)` of the recurrent products `h [B, H] · W_hhᵀ` with `W_hh` `[4H, H]`: W1's S, M and
  /// L sizes, and M's half batch (a step of two batch shards); for B > 1 also the backward pass's
  /// `g·W_hh` and `gᵀ·h`, with g `[B, 4H]`.
  static let skinnyShapes = [(1, 32), (32, 128), (16, 128), (64, 512), (1, 512)]

  /// Runs W0 by `plan` for the given square sizes, then the skinny shapes.
  /// `flopsPerCall` sets how many products one timed call runs (the anchors use 3e9).
  static func run(plan: TimingPlan, threads: Int, sizes: [Int], flopsPerCall: Double)
    -> [BenchRecord]
  {
    var records: [BenchRecord] = []
    for n in sizes {
      let a = Tensor<Float>.normal([n, n], seed: 0)
      let b = Tensor<Float>.normal([n, n], seed: 1)
      records.append(
        timed(
          plan: plan, threads: threads, flops: 2 * pow(Double(n), 3), perCall: flopsPerCall,
          cell: "matmul",
          size: "\(n)", variant: "square"
        ) { blackHole(matmul(a, b)) })
    }
    for (batch, hidden) in skinnyShapes {
      let h = Tensor<Float>.normal([batch, hidden], seed: 4)
      let w = Tensor<Float>.normal([4 * hidden, hidden], seed: 5)
      // Every product of a step does B·H·4H multiply-adds.
      func skinny(_ variant: String, _ product: () -> Tensor<Float>) -> BenchRecord {
        timed(
          plan: plan, threads: threads, flops: 2 * Double(batch * hidden * 4 * hidden),
          perCall: flopsPerCall, cell: "matmul_skinny", size: "\(batch)x\(hidden)",
          variant: variant
        ) { blackHole(product()) }
      }
      records.append(skinny("h·Wᵀ, W \(4 * hidden)x\(hidden)") { matmul(h, w, transposeB: true) })
      guard batch > 1 else { continue }
      // The backward pass's two products: the state's gradient g·W_hh and the weight's gᵀ·h.
      let g = Tensor<Float>.normal([batch, 4 * hidden], seed: 6)
      records.append(skinny("g·W, W \(4 * hidden)x\(hidden)") { matmul(g, w) })
      records.append(skinny("gᵀ·h, g \(batch)x\(4 * hidden)") { matmul(g, h, transposeA: true) })
    }
    return records
  }

  /// Times `product` repeated `perCall / flops` times per call (the anchors' `3e9 / flops` rule,
  /// ~30 ms per call at full speed) and reports the time of one product.
  static func timed(
    plan: TimingPlan, threads: Int, flops: Double, perCall: Double, cell: String, size: String,
    variant: String, _ product: () -> Void
  ) -> BenchRecord {
    let inner = Swift.max(1, Int(perCall / flops))
    let times = plan.measure { for _ in 0..<inner { product() } }
    let median = times.median / Double(inner)
    return BenchRecord(
      workload: "W0", cell: cell, size: size, variant: variant, threads: threads,
      medianMilliseconds: median, minimumMilliseconds: times.minimum / Double(inner),
      reps: times.samples.count,
      processorMedianMilliseconds: times.processorMedian / Double(inner),
      gigaflops: flops / (median * 1e6))
  }
}
