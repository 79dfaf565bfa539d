#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The dashboard's drawing primitives: scales, axes, number formatting and escaping. Output
/// must be byte-for-byte deterministic and never carry a non-finite number into SVG, so
/// every coordinate goes through `CockpitDashboard.coordinate(_:)` after a finiteness check.
extension CockpitDashboard {
  /// A panel's size in SVG user units, and its plot area.
  enum Layout {
    static let width = 380.0
    static let height = 250.0
    static let left = 58.0
    static let right = 322.0
    static let top = 40.0
    static let bottom = 208.0
    /// Traces keep at most this many points per series (evenly thinned).
    static let maxPoints = 1500
  }

  /// cockpit's palette, approximately: primary and secondary colors and its gray.
  enum Palette {
    static let primary = "#2b6cb0"
    static let secondary = "#dd6b20"
    static let tertiary = "#2f855a"
    static let gray = "#8a8a99"
    static let zone = "#ababba"
    static let background = "#f7f8fb"
    static let group = ["#eef3fb", "#f1f8f1", "#fbf3ec", "#f4f4f6", "#f6f1fa"]
  }

  /// Escapes text for XML and HTML, in content and in attribute values.
  static func escape(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for scalar in text.unicodeScalars {
      switch scalar {
      case "&": out += "&amp;"
      case "<": out += "&lt;"
      case ">": out += "&gt;"
      case "\"": out += "&quot;"
      case "'": out += "&#39;"
      // XML 1.0 forbids most control characters even as references; drop them.
      case "\u{0}"..."\u{8}", "\u{B}", "\u{C}", "\u{E}"..."\u{1F}", "\u{FFFE}", "\u{FFFF}": continue
      default: out.unicodeScalars.append(scalar)
      }
    }
    return out
  }

  /// A coordinate with one decimal (`12.3`, `-4`, `0`); the caller guarantees finiteness.
  static func coordinate(_ x: Double) -> String {
    let clamped = Swift.min(Swift.max(x, -1e6), 1e6)
    let tenths = Int((clamped * 10).rounded())
    let sign = tenths < 0 ? "-" : ""
    let magnitude = abs(tenths)
    return magnitude % 10 == 0 ? "\(sign)\(magnitude / 10)" : "\(sign)\(magnitude / 10).\(magnitude % 10)"
  }

  /// A value for labels with three significant digits (`0.0123`, `4.56e-7`, `1.2e+6`).
  static func label(_ x: Double) -> String {
    guard x.isFinite else { return x.isNaN ? "NaN" : (x < 0 ? "-∞" : "∞") }
    if x == 0 { return "0" }
    let exponent = Int((Swift.abs(x)).log10Floor)
    if exponent >= -3 && exponent < 6 {
      let decimals = Swift.max(0, 2 - exponent)
      return trimmed(rounded(x, decimals: decimals))
    }
    let mantissa = rounded(x / power10(exponent), decimals: 2)
    // Rounding may carry the mantissa to 10.
    if Swift.abs(mantissa) >= 10 { return trimmed(rounded(mantissa / 10, decimals: 2)) + "e" + signed(exponent + 1) }
    return trimmed(mantissa) + "e" + signed(exponent)
  }

  private static func signed(_ n: Int) -> String { n < 0 ? "\(n)" : "+\(n)" }

  private static func power10(_ n: Int) -> Double {
    var p = 1.0
    for _ in 0..<Swift.abs(n) { p *= 10 }
    return n < 0 ? 1 / p : p
  }

  /// `x` rounded to `decimals` places, as the double nearest that decimal.
  private static func rounded(_ x: Double, decimals: Int) -> Double {
    let scale = power10(decimals)
    return (x * scale).rounded() / scale
  }

  /// The shortest representation without a trailing `.0`.
  private static func trimmed(_ x: Double) -> String {
    let text = (x == 0 ? 0 : x).description
    return text.hasSuffix(".0") ? String(text.dropLast(2)) : text
  }

  /// The exponential moving average cockpit overlays on traces (`ewm(alpha=0.2)`, unadjusted
  /// recursion `m_t = α x_t + (1 − α) m_{t−1}`, started at the first value).
  static func movingAverage(_ values: [Double], alpha: Double = 0.2) -> [Double] {
    var out: [Double] = []
    out.reserveCapacity(values.count)
    for value in values { out.append(out.last.map { alpha * value + (1 - alpha) * $0 } ?? value) }
    return out
  }

  /// `ln x`.
  static func naturalLog(_ x: Double) -> Double { log(x) }
  /// `eˣ`.
  static func naturalExp(_ x: Double) -> Double { exp(x) }

  /// Every `k`-th point so at most `Layout.maxPoints` remain, always keeping the last.
  static func thinned<T>(_ points: [T]) -> [T] {
    guard points.count > Layout.maxPoints else { return points }
    let stride = (points.count + Layout.maxPoints - 1) / Layout.maxPoints
    var out = Swift.stride(from: 0, to: points.count, by: stride).map { points[$0] }
    if (points.count - 1) % stride != 0 { out.append(points[points.count - 1]) }
    return out
  }
}

extension Double {
  /// `⌊log₁₀ |x|⌋` for finite nonzero `x`, exact at powers of ten.
  fileprivate var log10Floor: Double {
    var e = 0.0
    var m = Swift.abs(self)
    while m >= 10 { m /= 10; e += 1 }
    while m < 1 { m *= 10; e -= 1 }
    return e
  }
}

/// A linear or logarithmic map from data values to pixels.
struct DashboardScale {
  /// The data range, widened so it is never empty.
  let lower: Double
  /// The data range's upper end.
  let upper: Double
  /// Whether the scale is logarithmic (only positive values are drawn).
  let isLog: Bool
  /// The pixel positions of `lower` and `upper`.
  let pixels: (Double, Double)

  /// A scale covering the finite `values` (positive ones when `log`) and `including`; nil
  /// when there is nothing to cover.
  init?(values: [Double], log: Bool = false, including: [Double] = [], pixels: (Double, Double), pad: Double = 0.05) {
    let usable = (values + including).filter { $0.isFinite && (!log || $0 > 0) }
    guard var lo = usable.min(), var hi = usable.max() else { return nil }
    if log {
      lo = log10(lo)
      hi = log10(hi)
    }
    if hi - lo <= Swift.max(Swift.abs(hi), Swift.abs(lo)) * 1e-12 {
      let widen = log ? 0.5 : Swift.max(Swift.abs(lo) * 0.1, 0.5)
      lo -= widen
      hi += widen
    } else {
      let margin = (hi - lo) * pad
      lo -= margin
      hi += margin
    }
    self.lower = lo
    self.upper = hi
    self.isLog = log
    self.pixels = pixels
  }

  /// A fixed linear scale.
  init(lower: Double, upper: Double, pixels: (Double, Double)) {
    self.lower = lower
    self.upper = upper
    self.isLog = false
    self.pixels = pixels
  }

  /// The pixel of `value`, nil when it cannot be drawn (non-finite, or not positive on a
  /// log scale); values outside the range are clamped to its ends.
  func callAsFunction(_ value: Double) -> Double? {
    guard value.isFinite, !isLog || value > 0 else { return nil }
    let v = isLog ? log10(value) : value
    let t = Swift.min(Swift.max((v - lower) / (upper - lower), 0), 1)
    let pixel = pixels.0 + t * (pixels.1 - pixels.0)
    return pixel.isFinite ? pixel : nil
  }

  /// About five round tick values inside the range.
  var ticks: [Double] {
    if isLog {
      let first = Int(lower.rounded(.up))
      let last = Int(upper.rounded(.down))
      // Less than two powers of ten in range: round linear ticks read better.
      guard last > first else { return Self.linearTicks(tenToThe(lower), tenToThe(upper)).filter { $0 > 0 } }
      let step = Swift.max(1, (last - first + 4) / 5)
      return Swift.stride(from: first, through: last, by: step).map { tenToThe(Double($0)) }
    }
    return Self.linearTicks(lower, upper)
  }

  /// About five round values in `[lower, upper]`.
  static func linearTicks(_ lower: Double, _ upper: Double) -> [Double] {
    let raw = (upper - lower) / 4
    guard raw > 0, raw.isFinite else { return [] }
    let magnitude = tenToThe(log10(raw).rounded(.down))
    let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
    let first = (lower / step).rounded(.up)
    let last = (upper / step).rounded(.down)
    guard first <= last, last - first < 20 else { return [] }
    return Swift.stride(from: first, through: last, by: 1).map { $0 * step == 0 ? 0 : $0 * step }
  }
}

/// `10^x`.
private func tenToThe(_ x: Double) -> Double { pow(10, x) }
