import CurvatureNumerics

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

extension GraphModel {
  /// Deterministic starting values for a graph loaded without weights (PyTorch's own
  /// initialization depends on the module, which the graph does not record):
  ///
  /// - parameters of rank ≥ 2 are drawn uniformly from `[−1/√fan_in, 1/√fan_in)`, with
  ///   `fan_in` the product of all extents but the first (PyTorch's bound for Linear and
  ///   convolution weights), in file order from `RandomGenerator(seed:)`;
  /// - parameters of rank ≤ 1 named `weight` or `….weight` are ones (a norm's scale), other
  ///   parameters of rank ≤ 1 zeros (biases);
  /// - buffers named `running_var` (or `….running_var`) are ones, `running_mean` and
  ///   `num_batches_tracked` zeros; any other buffer (such as a constant the exporter
  ///   folded, `_constant.…`) has no default and needs the weights file.
  ///
  /// - Parameter buffersFromWeights: Weights will be loaded next: buffers without a default
  ///   start as zeros rather than being an error.
  /// - Throws: `FileFormatError` at `path` naming a buffer without a default.
  static func initialValues(
    parameters: [ParameterSpec], buffers: [GraphValueSpec], seed: UInt64, path: String, buffersFromWeights: Bool = false
  ) throws -> (parameters: [NDArray<Scalar>], buffers: [NDArray<Scalar>]) {
    var generator = RandomGenerator(seed: seed)
    let values = parameters.map { spec -> NDArray<Scalar> in
      if spec.shape.count >= 2 {
        let bound = 1 / Double(spec.shape.dropFirst().reduce(1, *)).squareRoot()
        return generator.uniformArray(shape: spec.shape, in: -bound..<bound)
      }
      let isScale = spec.name == "weight" || spec.name.hasSuffix(".weight")
      return NDArray(repeating: isScale ? 1 : 0, shape: spec.shape)
    }
    let fixed = try buffers.map { spec -> NDArray<Scalar> in
      let last = spec.name.split(separator: ".").last.map(String.init) ?? spec.name
      switch last {
      case "running_var": return NDArray(repeating: 1, shape: spec.shape)
      case "running_mean", "num_batches_tracked": return NDArray(zeros: spec.shape)
      default:
        if buffersFromWeights { return NDArray(zeros: spec.shape) }
        throw FileFormatError(
          path: path, location: "buffer '\(spec.name)'", problem: "buffer has no default value",
          expected: "a weights file holding it (only running_mean, running_var and num_batches_tracked have defaults)",
          found: "no weights file")
      }
    }
    return (values, fixed)
  }

  /// Replaces parameters and buffers with those of a safetensors file keyed by their
  /// names (`state_dict` names): exactly one tensor per parameter and buffer, shaped as
  /// listed, of dtype F32, F64, F16, BF16, I64, I32 or BOOL (integers exact).
  /// - Throws: `FileFormatError` naming the tensor for a missing or extra key, a shape that
  ///   differs, a non-finite parameter, an int64 or bool buffer that holds something else,
  ///   a buffer read by an embedding holding an index outside its rows, or what reading the
  ///   file throws.
  public mutating func loadWeights(from url: URL) throws {
    let file = try SafetensorsFile(contentsOf: url)
    let parameterNames = parameterSpecs.map(\.name), bufferNames = bufferSpecs.map(\.name)
    let expected = Set(parameterNames + bufferNames)
    for name in file.names where !expected.contains(name) {
      throw FileFormatError(
        path: url.path, location: "tensor '\(name)'", problem: "extra weight key",
        expected: "only the graph's parameters and buffers (\((parameterNames + bufferNames).joined(separator: ", ")))",
        found: "'\(name)'")
    }
    func read(_ name: String, _ shape: [Int], requireFinite: Bool) throws -> NDArray<Scalar> {
      guard let info = file.info(named: name) else {
        throw FileFormatError(
          path: url.path, location: "tensor '\(name)'", problem: "missing weight key",
          expected: "a tensor of shape \(shape)", found: "no such key (keys: \(file.names.joined(separator: ", ")))")
      }
      // The header's shape decides the allocation: check it before reading anything.
      guard info.shape == shape else {
        throw FileFormatError(
          path: url.path, location: "tensor '\(name)'", problem: "weight shape does not match the graph",
          expected: "\(shape)", found: "\(info.shape)")
      }
      return try file.array(named: name, as: Scalar.self, requireFinite: requireFinite, allowingIntegers: true)
    }
    let values = try parameterSpecs.map { try read($0.name, $0.shape, requireFinite: true) }
    let fixed = try bufferSpecs.map { spec -> NDArray<Scalar> in
      let value = try read(spec.name, spec.shape, requireFinite: false)
      if spec.dtype != .float, let bad = value.scalars.firstIndex(where: { $0 != $0.rounded() || (spec.dtype == .bool && $0 != 0 && $0 != 1) }) {
        throw FileFormatError(
          path: url.path, location: "tensor '\(spec.name)'", problem: "buffer values do not fit its dtype",
          expected: spec.dtype == .bool ? "0 or 1 (bool)" : "integers (int64)", found: "\(value.scalars[bad]) at flat index \(bad)")
      }
      return value
    }
    do {
      try setBuffers(fixed)
    } catch let error as ModelError {
      throw FileFormatError(
        path: url.path, location: "buffers", problem: "buffer values do not fit the graph", expected: "indices within each embedding's rows",
        found: "\(error)")
    }
    try setParameters(values)
  }
}
