import CurvatureNumerics
import CurvatureAutodiff

// Bounds on the memory a network's passes need, checked before anything is allocated: a
// valid model can still imply enormous intermediates (a Conv2d with padding 20000 pads a
// small image to 40006 × 40006 positions, whose unfolded 3×3 patches take 115 GB in
// float64). Without the check such a model traps in the allocator; with it, the layer is
// named and nothing is allocated beyond what the data and parameters themselves take.
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The memory the library lets one batch's passes take.
public enum MemoryBudget {
  /// The bytes available to the process: the smallest of physical memory, the address-space
  /// and data-segment limits (`ulimit -v`, `ulimit -d`) and the cgroup's memory limit.
  public static var availableBytes: Int {
    var bytes = Int(clamping: ProcessInfo.processInfo.physicalMemory)
    #if canImport(Glibc)
    for resource in [RLIMIT_AS, RLIMIT_DATA] {
      var limit = rlimit()
      if getrlimit(__rlimit_resource_t(resource.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max {
        bytes = Swift.min(bytes, Int(clamping: limit.rlim_cur))
      }
    }
    #endif
    for path in ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"] {
      if let text = try? String(contentsOfFile: path, encoding: .utf8),
         let limit = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)), limit > 0 {
        bytes = Swift.min(bytes, limit)
      }
    }
    return Swift.max(bytes, 1)
  }

  /// The default budget of a curvature problem's passes: half of `availableBytes` (the
  /// rest is left to the data, parameters and results).
  public static var defaultBytes: Int { availableBytes / 2 }

  /// `1.5 GB`, `512 MB`, `800 bytes` (decimal units).
  static func format(_ bytes: Int) -> String {
    if bytes == Int.max { return "more than 9.2 EB" }
    let units: [(Double, String)] = [(1e18, "EB"), (1e15, "PB"), (1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB")]
    for (scale, unit) in units where Double(bytes) >= scale {
      return String(format: "%.1f %@", Double(bytes) / scale, unit)
    }
    return "\(bytes) bytes"
  }
}

extension Sequential {
  /// Checks, before anything is allocated, that one batch's passes fit in `budget` bytes:
  /// every layer's output, a Conv2d's unfolded patches and window index map, and all of
  /// them together (the graph keeps each layer's output and patches for the reverse pass,
  /// and a tangent of each for forward mode).
  ///
  /// ```swift
  /// try model.checkMemory(inputShape: [1, 28, 28], batchSize: 128, budget: 1 << 30)
  /// ```
  /// - Parameters:
  ///   - inputShape: One data point's input shape (no batch axis).
  ///   - batchSize: Data points per batch.
  ///   - budget: The bytes allowed (default: `MemoryBudget.defaultBytes`).
  /// - Returns: The estimated bytes of one batch's passes.
  /// - Throws: `ResourceError.memory` naming the layer (index and configuration), the bytes
  ///   it needs and the budget; `ModelError.wrongShape` when the input does not fit.
  /// - Complexity: O(layers); no allocation proportional to the sizes checked.
  @discardableResult
  public func checkMemory(inputShape: [Int], batchSize: Int, budget: Int = MemoryBudget.defaultBytes) throws -> Int {
    let scalar = MemoryLayout<Scalar>.stride
    var shape = [Swift.max(batchSize, 1)] + inputShape
    var total = bytes(shape, scalar)
    for (index, layer) in layers.enumerated() {
      let next = try outputShape(for: shape, layers: index..<(index + 1))
      var parts = [("output \(next)", bytes(next, scalar))]
      if let conv = layer as? Conv2d<Scalar> {
        let (h, w) = conv.outputSize(height: shape[2], width: shape[3])
        let taps = product([conv.kernelSize.0, conv.kernelSize.1])
        let positions = product([h, w])
        let pointwise = taps == 1 && conv.stride == (1, 1) && conv.padding == (0, 0)
        if !pointwise {
          let patches = [shape[0], product([conv.inChannels, taps]), positions]
          parts.append(("unfolded patches \(patches)", bytes(patches, scalar)))
          parts.append(("window index map", bytes([taps, positions], MemoryLayout<Int>.stride)))
        }
      }
      let needed = parts.reduce(0) { add($0, $1.1) }
      if needed > budget {
        let detail = parts.map { "\($0.0): \(MemoryBudget.format($0.1))" }.joined(separator: ", ")
        throw ResourceError.memory(
          "layer \(index) (\(layer)) needs \(MemoryBudget.format(needed)) for a batch of \(shape[0]) (\(detail)), more than the memory budget of \(MemoryBudget.format(budget))")
      }
      total = add(total, parts.filter { !$0.0.hasPrefix("window") }.reduce(0) { add($0, $1.1) })
      shape = next
    }
    // Values and tangents of every kept intermediate.
    let passes = multiply(total, 2)
    if passes > budget {
      throw ResourceError.memory(
        "the network's passes need about \(MemoryBudget.format(passes)) for a batch of \(shape[0]) (activations, unfolded patches and their tangents), more than the memory budget of \(MemoryBudget.format(budget)); use a smaller batch size")
    }
    return passes
  }

  /// The output shape after `layers` of the network, for their input shape.
  private func outputShape(for shape: [Int], layers range: Range<Int>) throws -> [Int] {
    do {
      return try layers[range.lowerBound].outputShape(for: shape)
    } catch let error as ModelError {
      switch error {
      case let .wrongShape(text), let .invalidConfiguration(text), let .parameterMismatch(text):
        throw ModelError.wrongShape("layer \(range.lowerBound): \(text)")
      default:
        throw error
      }
    }
  }
}

/// Saturating arithmetic: sizes beyond `Int.max` stay `Int.max` (and are over any budget).
private func multiply(_ a: Int, _ b: Int) -> Int {
  let (result, overflow) = a.multipliedReportingOverflow(by: b)
  return overflow ? Int.max : result
}

private func add(_ a: Int, _ b: Int) -> Int {
  let (result, overflow) = a.addingReportingOverflow(b)
  return overflow ? Int.max : result
}

private func product(_ extents: [Int]) -> Int { extents.reduce(1) { multiply($0, Swift.max($1, 0)) } }

private func bytes(_ shape: [Int], _ elementSize: Int) -> Int { multiply(product(shape), elementSize) }
