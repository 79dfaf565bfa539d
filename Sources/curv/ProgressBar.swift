import Curvature
import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A one-line progress bar on stderr, drawn only when stderr is a terminal and output is
/// not JSON; otherwise every call is a no-op, so piped and `--json` output stay clean.
///
/// ```swift
/// let bar = ProgressBar(enabled: !json)
/// let result = try lanczosEigenpairs(op, options: options, onProgress: bar.handler)
/// bar.finish()
/// ```
final class ProgressBar {
  /// Whether the bar draws anything.
  let isActive: Bool
  private var lastDraw: ContinuousClock.Instant?
  private var drawn = false
  private let width = 30

  /// A bar that draws when `enabled` and stderr is a terminal.
  init(enabled: Bool) {
    isActive = enabled && isatty(STDERR_FILENO) == 1
  }

  /// The handler to pass as `onProgress` to the library's solvers and estimators.
  var handler: ProgressHandler? {
    guard isActive else { return nil }
    return { [self] event in self.update(event) }
  }

  /// Draws `event` (at most about 20 times a second, and always at completion).
  func update(_ event: ProgressEvent) {
    guard isActive else { return }
    let now = ContinuousClock.now
    if let last = lastDraw, now - last < .milliseconds(50), event.completed < event.total { return }
    lastDraw = now
    let fraction = event.fractionCompleted
    let filled = Int((fraction * Double(width)).rounded(.down))
    let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
    var line = "\(event.task) [\(bar)] \(String(format: "%3d", Int(fraction * 100)))% \(event.completed)/\(event.total)"
    if let metric = event.metric { line += "  \(formatNumber(metric, significant: 3))" }
    FileHandle.standardError.write(Data("\r\u{1B}[K\(line)".utf8))
    drawn = true
  }

  /// Reports `completed` of `total` units of a task (for loops the library does not report).
  func update(task: String, completed: Int, total: Int) {
    update(ProgressEvent(task: task, completed: completed, total: total))
  }

  /// Erases the bar.
  func finish() {
    guard isActive, drawn else { return }
    FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    drawn = false
    lastDraw = nil
  }
}
