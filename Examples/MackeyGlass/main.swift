import Foundation
import Tapestry

// Mackey-Glass (τ = 17) with a 2,000-unit echo state network, the W5 protocol of the benchmark:
// teacher-forced training on 10,000 steps, one-step prediction of the test segment, then 100
// free runs of 84 steps (NRMSE₈₄, Jaeger & Haas 2004) and one of 500 steps. Prints the accuracy
// and the harvest / fit timings. Arguments: [--threads k] [N] [seed ...]; several seeds give mean
// and spread; --threads sets ComputeSettings.threads (harvest, Gram product and solve).
// Docs/EchoStateNetworks.md has the figures this run gave.

var arguments = CommandLine.arguments.dropFirst()
if arguments.first == "--threads", arguments.count >= 2,
  let threads = Int(arguments[arguments.startIndex + 1])
{
  ComputeSettings.threads = threads
  arguments = arguments.dropFirst(2)
}
let size = arguments.first.flatMap { Int($0) } ?? 2000
let seeds = arguments.dropFirst().compactMap { UInt64($0) }
var results: [MackeyGlassExperiment.Result] = []
for seed in seeds.isEmpty ? [42] : seeds {
  let experiment = MackeyGlassExperiment(size: size, seed: seed)
  let result = experiment.run()
  results.append(result)
  print(
    String(
      format: "N %d seed %d: build %.3f s, harvest %.3f s (10,100 steps; processor %.3f s), "
        + "fit %.3f s (processor %.3f s), free run %.0f µs/step", size, seed, result.buildSeconds,
      result.harvestSeconds, result.harvestProcessorSeconds, result.fitSeconds,
      result.fitProcessorSeconds, result.freeRunMicrosecondsPerStep))
  print(
    String(
      format: "  NRMSE one-step: validation %.3e, test %.3e; free run NRMSE84 %.3e "
        + "(mean over h = 1…84: %.3e)", result.validationNRMSE, result.testNRMSE,
      result.freeRun.atHorizon, result.freeRun.mean))
}

/// Mean and sample standard deviation.
func summary(_ values: [Double]) -> String {
  let mean = values.reduce(0, +) / Double(values.count)
  let spread =
    values.count > 1
    ? (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count - 1))
      .squareRoot() : 0
  return String(
    format: "%.3e ± %.1e (min %.3e, max %.3e)", mean, spread, values.min() ?? 0, values.max() ?? 0)
}

if results.count > 1 {
  print("over \(results.count) seeds:")
  print("  test NRMSE one-step \(summary(results.map(\.testNRMSE)))")
  print("  NRMSE84 \(summary(results.map(\.freeRun.atHorizon)))")
  print("  harvest s \(summary(results.map(\.harvestSeconds)))")
  print("  fit s \(summary(results.map(\.fitSeconds)))")
  print("  harvest processor s \(summary(results.map(\.harvestProcessorSeconds)))")
  print("  fit processor s \(summary(results.map(\.fitProcessorSeconds)))")
}

// The last seed's 500-step free run from the start of the test segment: where it departs.
if let last = results.last {
  for h in [1, 84, 100, 200, 300, 400, 500] {
    print(
      String(
        format: "free run of 500 steps: |error| at step %3d = %.2e", h,
        last.longFreeRunErrors[h - 1]))
  }
}
