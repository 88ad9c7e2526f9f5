import Tapestry

// NARMA-10 with a 50-unit echo state network: one-step prediction of y(k+1) from u(k), ridge
// readout, NMSE on 2,000 held-out steps (Vinckier et al. 2015 report 0.107 for N = 50).
// Arguments: [N] [seed ...]. Docs/EchoStateNetworks.md has the figures this run gave.

let arguments = CommandLine.arguments.dropFirst()
let size = arguments.first.flatMap { Int($0) } ?? 50
let seeds = arguments.dropFirst().compactMap { UInt64($0) }
var tests: [Double] = []
for seed in seeds.isEmpty ? [1, 2, 3, 4, 5] : seeds {
  let (train, test) = NARMA10Experiment(size: size, seed: seed).run()
  tests.append(test)
  print("N \(size) seed \(seed): NMSE train \(train), test \(test)")
}
let mean = tests.reduce(0, +) / Double(tests.count)
print(
  "mean test NMSE over \(tests.count) seeds: \(mean) (min \(tests.min() ?? 0), max \(tests.max() ?? 0))"
)
