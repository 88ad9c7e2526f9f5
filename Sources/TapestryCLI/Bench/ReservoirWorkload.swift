// W5: an echo state network on Mackey-Glass, the two costs the anchors time: harvesting the
// states of 10,100 steps (`run`) and the ridge fit of the readout on the last 10,000 (`fit`), in
// Double, with the default hyper-parameters (spectral radius 0.9, leak 0.3, input scaling 1,
// bias 0, density 0.1, ridge 1e-6).

import Tapestry

/// The W5 workloads.
enum ReservoirWorkload {
  /// Steps harvested and the washout discarded before the fit, as in the anchors.
  static let (steps, washout) = (10_100, 100)

  /// Times harvest and fit for each reservoir size. The anchors run 10 timed calls at N = 500 and
  /// 3 at N = 2000 after one untimed call; `quick` shrinks that to one timed call.
  static func run(sizes: [Int], threads: Int, quick: Bool) -> [BenchRecord] {
    let signal = MackeyGlass().signal(count: steps + 1)
    let inputs = Tensor(shape: [steps, 1], scalars: Array(signal[0..<steps]))
    let targets = Tensor(shape: [steps - washout, 1], scalars: Array(signal[(washout + 1)...]))
    var records: [BenchRecord] = []
    for size in sizes {
      let cell = ReservoirCell<Double>(ReservoirConfiguration(size: size, inputSize: 1), seed: 42)
      let runs = quick ? 1 : (size <= 500 ? 10 : 3)
      let plan = TimingPlan(warmups: 1, runs: runs, minimumRuns: runs, budget: .infinity)
      var states = cell.harvest(inputs, washout: washout).states
      let harvest = plan.measure { states = cell.harvest(inputs, washout: washout).states }
      let fit = plan.measure {
        var regression = RidgeRegression(featureCount: size, outputCount: 1)
        regression.accumulate(features: states, targets: targets)
        blackHole(regression.solve(ridge: 1e-6))
      }
      for (variant, times) in [("run (harvest 10,100 steps)", harvest), ("fit (ridge)", fit)] {
        records.append(
          BenchRecord(
            workload: "W5", cell: "esn", size: "\(size)", variant: variant, threads: threads,
            medianMilliseconds: times.median, minimumMilliseconds: times.minimum,
            reps: times.samples.count, processorMedianMilliseconds: times.processorMedian))
      }
    }
    return records
  }
}
