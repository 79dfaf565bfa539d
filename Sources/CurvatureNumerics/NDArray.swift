/// A dense, contiguous, row-major array of `Float` or `Double` with copy-on-write storage.
///
/// `NDArray` is Curvature's numerical value type: tensors of the autodiff core, matrices of
/// operators and factors of decompositions are all `NDArray`s. Storage is a Swift array, so
/// copies are cheap until one of them is mutated. There are no strides: reshaping never
/// copies, and transposes and permutations produce new contiguous arrays.
///
/// ```swift
/// let a = NDArray<Double>(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
/// let b = a.transposed()              // [3, 2]
/// let c = matmul(a, b)                // [2, 2], via gemm
/// ```
///
/// Operations on shapes that do not fit stop with a message naming both shapes (like
/// indexing out of range); numerical failures of LAPACK are thrown as `LAPACKError`.
public struct NDArray<Scalar: BLASScalar>: Sendable, Equatable, Hashable, Codable {
  /// The extent of each axis; `[]` for a scalar.
  public internal(set) var shape: [Int]
  /// The elements in row-major order (last axis fastest).
  public package(set) var scalars: [Scalar]

  /// Creates an array from its shape and row-major elements.
  /// - Precondition: `scalars.count` is the product of `shape`.
  public init(shape: [Int], scalars: [Scalar]) {
    precondition(shape.allSatisfy { $0 >= 0 }, "NDArray: negative extent in shape \(shape)")
    precondition(
      scalars.count == NDArray.elementCount(shape),
      "NDArray: \(scalars.count) scalars cannot fill shape \(shape) (needs \(NDArray.elementCount(shape)))")
    self.shape = shape
    self.scalars = scalars
  }

  /// An array of the given shape with every element equal to `value`.
  /// - Complexity: O(count), as a fill of raw machine words.
  public init(repeating value: Scalar, shape: [Int]) {
    precondition(shape.allSatisfy { $0 >= 0 }, "NDArray: negative extent in shape \(shape)")
    self.init(uninitializedShape: shape) { buffer in
      // Filling through `[Scalar](repeating:count:)` copies element by element through
      // value witnesses when this code runs unspecialized; words are filled directly.
      let raw = UnsafeMutableRawBufferPointer(buffer)
      if MemoryLayout<Scalar>.size == 4 {
        let word = withUnsafeBytes(of: value) { $0.load(as: UInt32.self) }
        raw.bindMemory(to: UInt32.self).initialize(repeating: word)
      } else {
        let word = withUnsafeBytes(of: value) { $0.load(as: UInt64.self) }
        raw.bindMemory(to: UInt64.self).initialize(repeating: word)
      }
    }
  }

  /// An array of zeros.
  /// - Complexity: O(count), one memory fill.
  public init(zeros shape: [Int]) {
    precondition(shape.allSatisfy { $0 >= 0 }, "NDArray: negative extent in shape \(shape)")
    self.init(uninitializedShape: shape) { buffer in
      UnsafeMutableRawBufferPointer(buffer).initializeMemory(as: UInt8.self, repeating: 0)
    }
  }

  /// An array whose elements `initializer` writes; every element must be written.
  package init(uninitializedShape shape: [Int], _ initializer: (UnsafeMutableBufferPointer<Scalar>) -> Void) {
    let count = NDArray.elementCount(shape)
    self.shape = shape
    self.scalars = [Scalar](unsafeUninitializedCapacity: count) { buffer, initialized in
      // Large arrays on huge pages, asked for before the first write (NumericsBackend+HugePages).
      NumericsBackend.adviseHugePages(UnsafeMutableRawBufferPointer(buffer))
      initializer(UnsafeMutableBufferPointer(rebasing: buffer[0..<count]))
      initialized = count
    }
  }

  /// A rank-0 array holding one scalar.
  public init(scalar: Scalar) {
    self.init(shape: [], scalars: [scalar])
  }

  /// A vector (rank 1) from its elements.
  public init(_ vector: [Scalar]) {
    self.init(shape: [vector.count], scalars: vector)
  }

  /// A matrix from its rows, which must have equal lengths.
  public init(rows: [[Scalar]]) {
    let columns = rows.first?.count ?? 0
    precondition(rows.allSatisfy { $0.count == columns }, "NDArray(rows:): rows of unequal length")
    self.init(shape: [rows.count, columns], scalars: rows.flatMap { $0 })
  }

  /// An array whose element at each multi-index is `body(index)`.
  public init(shape: [Int], _ body: ([Int]) -> Scalar) {
    let count = NDArray.elementCount(shape)
    var index = [Int](repeating: 0, count: shape.count)
    var scalars = [Scalar]()
    scalars.reserveCapacity(count)
    for _ in 0..<count {
      scalars.append(body(index))
      NDArray.increment(&index, in: shape)
    }
    self.init(shape: shape, scalars: scalars)
  }

  /// The `n×n` identity matrix.
  public static func identity(_ n: Int) -> NDArray {
    var result = NDArray(zeros: [n, n])
    for i in 0..<n { result.scalars[i * n + i] = 1 }
    return result
  }

  /// The number of axes.
  public var rank: Int { shape.count }

  /// The number of elements.
  public var count: Int { scalars.count }

  /// The single element of an array with one element (any rank).
  public var scalar: Scalar {
    precondition(count == 1, "NDArray.scalar: array of shape \(shape) has \(count) elements")
    return scalars[0]
  }

  /// The element at a multi-index (one index per axis).
  public subscript(_ indices: Int...) -> Scalar {
    get { scalars[offset(of: indices)] }
    set { scalars[offset(of: indices)] = newValue }
  }

  /// The row-major position of a multi-index.
  public func offset(of indices: [Int]) -> Int {
    precondition(indices.count == rank, "NDArray: \(indices.count) indices for shape \(shape)")
    var offset = 0
    for (axis, index) in indices.enumerated() {
      precondition(index >= 0 && index < shape[axis], "NDArray: index \(indices) out of range for shape \(shape)")
      offset = offset * shape[axis] + index
    }
    return offset
  }

  /// The same elements under a new shape with the same element count; one extent may be
  /// `-1` and is then inferred.
  public func reshaped(_ newShape: [Int]) -> NDArray {
    var result = self
    result.shape = NDArray.resolve(newShape, count: count, from: shape)
    return result
  }

  /// The elements as a vector of shape `[count]`.
  public func flattened() -> NDArray { reshaped([count]) }

  /// Calls `body` with the elements.
  public func withUnsafeBufferPointer<R, E: Error>(
    _ body: (UnsafeBufferPointer<Scalar>) throws(E) -> R
  ) throws(E) -> R {
    // `Array.withUnsafeBufferPointer` rethrows untyped; keep the typed error.
    var outcome: Result<R, E>!
    scalars.withUnsafeBufferPointer { buffer in
      do throws(E) { outcome = .success(try body(buffer)) } catch { outcome = .failure(error) }
    }
    return try outcome.get()
  }

  /// Calls `body` with mutable access to the elements (copying first if shared).
  public mutating func withUnsafeMutableBufferPointer<R, E: Error>(
    _ body: (inout UnsafeMutableBufferPointer<Scalar>) throws(E) -> R
  ) throws(E) -> R {
    var outcome: Result<R, E>!
    scalars.withUnsafeMutableBufferPointer { buffer in
      do throws(E) { outcome = .success(try body(&buffer)) } catch { outcome = .failure(error) }
    }
    return try outcome.get()
  }

  /// The array with every element converted to another precision.
  @_specialize(where Scalar == Float, Other == Double)
  @_specialize(where Scalar == Double, Other == Float)
  public func converted<Other: BLASScalar>(to _: Other.Type = Other.self) -> NDArray<Other> {
    // Specialized: called from other modules (`curv apply` writing float64 output), the
    // generic body converted every element through value witnesses.
    if let same = self as? NDArray<Other> { return same }
    return NDArray<Other>(shape: shape, scalars: scalars.map { Other($0) })
  }

  /// Whether every element is finite (no NaN or infinity).
  /// - Complexity: O(count), one vectorized pass.
  public var isFinite: Bool { firstNonFiniteIndex == nil }

  /// The row-major position of the first NaN or infinity, or nil when every element is
  /// finite.
  /// - Complexity: O(count), one vectorized pass.
  public var firstNonFiniteIndex: Int? { scalars.withUnsafeBufferPointer { Scalar.firstNonFinite($0) } }

  // MARK: Shape arithmetic

  /// The number of elements of a shape.
  public static func elementCount(_ shape: [Int]) -> Int { shape.reduce(1, *) }

  static func resolve(_ newShape: [Int], count: Int, from old: [Int]) -> [Int] {
    let inferred = newShape.indices.filter { newShape[$0] == -1 }
    precondition(inferred.count <= 1, "reshape: more than one -1 in \(newShape)")
    precondition(newShape.allSatisfy { $0 >= -1 }, "reshape: negative extent in \(newShape)")
    var resolved = newShape
    if let axis = inferred.first {
      let known = newShape.filter { $0 != -1 }.reduce(1, *)
      precondition(known > 0 && count % known == 0, "reshape: cannot reshape \(old) to \(newShape)")
      resolved[axis] = count / known
    }
    precondition(elementCount(resolved) == count, "reshape: cannot reshape \(old) (\(count) elements) to \(newShape)")
    return resolved
  }

  /// Advances a row-major multi-index by one.
  package static func increment(_ index: inout [Int], in shape: [Int]) {
    var axis = shape.count - 1
    while axis >= 0 {
      index[axis] += 1
      if index[axis] < shape[axis] { return }
      index[axis] = 0
      axis -= 1
    }
  }
}

extension NDArray: CustomStringConvertible {
  /// The dtype, the shape and the first 12 values, for reading.
  public var description: String {
    let shown = scalars.prefix(12).map { "\($0)" }.joined(separator: ", ")
    return "NDArray<\(Scalar.dtypeName)>(shape: \(shape), [\(shown)\(count > 12 ? ", …" : "")])"
  }
}
