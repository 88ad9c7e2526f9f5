import Foundation

/// How values map to positions along a chart axis.
public enum AxisScale: String, Sendable, Hashable, CaseIterable {
  /// Equal differences take equal lengths.
  case linear
  /// Equal ratios take equal lengths (base 10); values ≤ 0 cannot be shown.
  case log
}

/// An axis's range and ticks, worked out from the data it must show.
struct Axis {
  let scale: AxisScale
  /// The ends of the axis, in data units.
  let low: Double
  let high: Double
  /// Tick positions, in data units, with their labels as SVG text markup.
  let ticks: [(value: Double, markup: String)]

  /// An axis covering `values` (finite; positive on a log axis): about `target` ticks at "nice"
  /// steps (1, 2 or 5 × 10^k) extended to whole ticks on a linear axis; whole decades on a log
  /// axis, at most ten or so labelled. With no values, 0…1 (linear) or 1…10 (log).
  init(covering values: [Double], scale: AxisScale, target: Int = 6) {
    self.scale = scale
    switch scale {
    case .linear:
      var low = values.min() ?? 0
      var high = values.max() ?? 1
      if low == high {
        let pad = low == 0 ? 1 : Swift.abs(low) * 0.1
        (low, high) = (low - pad, high + pad)
      }
      let step = Axis.niceStep((high - low) / Double(Swift.max(target - 1, 1)))
      let first = (low / step).rounded(.down)
      let last = (high / step).rounded(.up)
      self.low = first * step
      self.high = last * step
      let decimals = Swift.max(0, -Int(log10(step).rounded(.down)))
      ticks = stride(from: first, through: last, by: 1).map { index in
        let value = index * step
        return (value, escapedForXML(Axis.format(value, decimals: decimals)))
      }
    case .log:
      let logs = values.map(log10)
      var low = (logs.min() ?? 0).rounded(.down)
      var high = (logs.max() ?? 1).rounded(.up)
      if low == high { (low, high) = (low - 1, high + 1) }
      self.low = pow(10, low)
      self.high = pow(10, high)
      // Every decade is labelled up to ten of them: gradient norms span many, and each one
      // counts.
      let decades = Int(high - low)
      let every = Swift.max(1, (decades + 9) / 10)
      ticks = stride(from: Int(low), through: Int(high), by: every).map { exponent in
        (pow(10, Double(exponent)), Axis.powerOfTen(exponent))
      }
    }
  }

  /// The fraction 0…1 of the way from `low` to `high` at which `value` sits.
  func fraction(_ value: Double) -> Double {
    switch scale {
    case .linear: (value - low) / (high - low)
    case .log: (log10(value) - log10(low)) / (log10(high) - log10(low))
    }
  }

  /// The smallest of 1, 2, 5 × 10^k that is at least `raw` (positive); 1 otherwise.
  static func niceStep(_ raw: Double) -> Double {
    guard raw > 0, raw.isFinite else { return 1 }
    let magnitude = pow(10, log10(raw).rounded(.down))
    for multiple in [1.0, 2, 5, 10] where multiple * magnitude >= raw * (1 - 1e-9) {
      return multiple * magnitude
    }
    return 10 * magnitude
  }

  /// A tick label: fixed decimals for ordinary magnitudes, exponent form for huge or tiny ones.
  static func format(_ value: Double, decimals: Int) -> String {
    if value == 0 { return "0" }
    if Swift.abs(value) >= 1e6 || decimals > 5 { return String(format: "%.3g", value) }
    return String(format: "%.\(decimals)f", value)
  }

  /// `10` with `exponent` as a superscript, as SVG text markup; `1` and `10` for 0 and 1.
  static func powerOfTen(_ exponent: Int) -> String {
    switch exponent {
    case 0: "1"
    case 1: "10"
    default: "10<tspan dy=\"-5\" font-size=\"8\">\(exponent)</tspan>"
    }
  }
}
