import Curvature
import CurvatureTestSupport
import Synchronization
import Testing

/// The scalar types the API tests run in.
typealias APITestScalar = BLASScalar & TestTolerance

/// Small problems for the API tests: `Linear(3, 4) – Tanh – Linear(4, 2)` (P = 26) on 8
/// points, and the same network written as a `FunctionModel` with module-style names.
enum APICases {
  static func data<T: BLASScalar>(_: T.Type, n: Int = 8, seed: UInt64 = 3) throws -> ArrayDataset<T> {
    var rng = RandomGenerator(seed: seed)
    let x: NDArray<T> = rng.normalArray(shape: [n, 3])
    let y: NDArray<T> = rng.normalArray(shape: [n, 2])
    return try ArrayDataset(inputs: x, targets: .values(y))
  }

  static func sequential<T: BLASScalar>(_: T.Type, seed: UInt64 = 1) throws -> Sequential<T> {
    try Sequential<T>([Linear(inFeatures: 3, outFeatures: 4), Tanh(), Linear(inFeatures: 4, outFeatures: 2)], seed: seed)
  }

  /// The Sequential's network as a closure, parameters named `fc1.weight`, `fc1.bias`,
  /// `fc2.weight`, `fc2.bias`.
  static func function<T: BLASScalar>(_ sequential: Sequential<T>) throws -> FunctionModel<T> {
    let names = ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    let specs = zip(names, sequential.parameterSpecs).map { ParameterSpec(name: $0, shape: $1.shape) }
    return try FunctionModel(parameterSpecs: specs, parameters: sequential.parameters) { x, p in
      let hidden = (matmul(x, p[0], transposeB: true) + p[1]).tanh()
      return matmul(hidden, p[2], transposeB: true) + p[3]
    }
  }

  static func problem<T: BLASScalar>(_: T.Type) throws -> CurvatureProblem<T> {
    try CurvatureProblem(model: try sequential(T.self), loss: Loss(.mse), data: try data(T.self))
  }
}

/// Counts the batches read from a data set (to see when an operator reads the data).
final class ReadCounter: Sendable {
  let count = Mutex(0)
  func increment() { count.withLock { $0 += 1 } }
  var value: Int { count.withLock { $0 } }
}

/// A data set that counts its reads.
struct ReadCountingDataset<Scalar: BLASScalar>: Dataset {
  let base: ArrayDataset<Scalar>
  let counter: ReadCounter
  var count: Int { base.count }
  var inputShape: [Int] { base.inputShape }
  func batch(_ range: Range<Int>) throws -> Batch<Scalar> {
    counter.increment()
    return try base.batch(range)
  }
}
