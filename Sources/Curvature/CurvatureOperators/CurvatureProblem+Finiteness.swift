import CurvatureNumerics
import CurvatureAutodiff
import CurvatureNN

// Finiteness checks of every pass: a NaN or infinity (from an overflow, e.g. inputs of
// 1e300 in float64 or weights of 1e30 in float32) is reported as `nonFinite`, naming the
// pass, the data points and the entry, instead of flowing into a result or being mistaken
// for non-determinism. Each check is one pass over a result the pass has just produced,
// with no allocation; locating the layer that overflowed costs a forward pass, and runs
// only when a check has already failed.

extension CurvatureProblem {
  /// Throws `CurvatureError.nonFinite` if `values` (a column over the selected parameters)
  /// holds a NaN or infinity, naming `stage` and the parameter block of the first such entry.
  func requireFiniteColumn(_ values: [Scalar], _ stage: @autoclosure () -> String) throws {
    guard let bad = firstNonFinite(values) else { return }
    throw CurvatureError.nonFinite("\(stage()): the result holds \(values[bad]) at entry \(bad) (\(parameterEntry(bad)))")
  }

  /// `entry 17` of the selected parameters as `parameter 0.weight, element 5`.
  func parameterEntry(_ index: Int) -> String {
    var offset = 0
    for spec in selectedSpecs {
      if index < offset + spec.count { return "parameter \(spec.name), element \(index - offset)" }
      offset += spec.count
    }
    return "beyond the selected parameters"
  }

  /// Throws `CurvatureError.nonFinite` if the network outputs of a batch hold a NaN or
  /// infinity, naming where they first appear: a non-finite parameter, or the first layer
  /// of a `Sequential` whose output is not finite (an overflow).
  func requireFiniteOutputs(_ output: NDArray<Scalar>, _ batch: Batch<Scalar>, stage: String = "forward pass") throws {
    guard let bad = firstNonFinite(output.scalars) else { return }
    throw CurvatureError.nonFinite(
      "\(stage), network outputs for data points \(batch.range) hold \(output.scalars[bad]) at element \(bad)\(nonFiniteOrigin(batch))")
  }

  /// Where non-finite network outputs come from, as a clause to append to a message.
  func nonFiniteOrigin(_ batch: Batch<Scalar>) -> String {
    for (spec, value) in zip(model.parameterSpecs, model.parameters) {
      if let bad = firstNonFinite(value.scalars) {
        return ": parameter \(spec.name) holds \(value.scalars[bad]) at element \(bad)"
      }
    }
    if let bad = firstNonFinite(batch.inputs.scalars) { return ": the inputs hold \(batch.inputs.scalars[bad]) at element \(bad)" }
    guard let sequential = model as? Sequential<Scalar> else { return " (an overflow in the model)" }
    var origin: String? = nil
    _ = AutodiffMode.withoutRecording {
      sequential(Tensor(batch.inputs), parameters: sequential.parameterTensors) { index, _, output in
        if origin == nil, firstNonFinite(output.value.scalars) != nil {
          origin = ": layer \(index) (\(sequential.layers[index])) is the first whose output is not finite (an overflow; the inputs and parameters are finite)"
        }
        return output
      }
    }
    return origin ?? " (an overflow in the model)"
  }
}

/// The index of the first NaN or infinity, if any: one pass, no allocation.
@inline(__always)
func firstNonFinite<T: BLASScalar>(_ values: [T]) -> Int? {
  // The scalar type's vectorized kernel: this generic code runs unspecialized.
  values.withUnsafeBufferPointer { T.firstNonFinite($0) }
}
