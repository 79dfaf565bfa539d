import Curvature
import Foundation
import Testing

/// Runs the built `curv` executable and writes the fixtures it reads.
///
/// `curv` is found next to the test bundle: `swift build --build-tests` builds every
/// product into the same `.build/<triple>/<configuration>/` directory as the tests.
enum CLI {
  /// The result of one run.
  struct Run {
    var status: Int32
    var stdout: String
    var stderr: String

    /// The non-empty lines of stderr.
    var errorLines: [Substring] { stderr.split(whereSeparator: \.isNewline).filter { !$0.isEmpty } }

    /// stdout parsed as one JSON object.
    func json(sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
      let object = try JSONSerialization.jsonObject(with: Data(stdout.utf8))
      return try #require(object as? [String: Any], "stdout is not one JSON object: \(stdout)", sourceLocation: sourceLocation)
    }
  }

  /// The `curv` executable, or nil when it has not been built.
  static let executable: URL? = {
    var directories = [Bundle.main.bundleURL, URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()]
    if let url = Bundle.main.executableURL { directories.append(url.deletingLastPathComponent()) }
    for bundle in Bundle.allBundles { directories.append(bundle.bundleURL.deletingLastPathComponent()) }
    for start in directories {
      var directory = start.standardizedFileURL
      for _ in 0..<4 {
        let candidate = directory.appendingPathComponent("curv")
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDirectory), !isDirectory.boolValue,
          FileManager.default.isExecutableFile(atPath: candidate.path)
        {
          return candidate
        }
        directory = directory.deletingLastPathComponent()
      }
    }
    return nil
  }()

  /// Runs `curv arguments` (one BLAS thread, so parallel tests do not oversubscribe), under
  /// `ulimit -v memoryLimitKiB` when given.
  static func run(
    _ arguments: [String], memoryLimitKiB: Int? = nil, sourceLocation: SourceLocation = #_sourceLocation
  ) throws -> Run {
    let executable = try #require(executable, "curv was not found next to the test bundle: run `swift build --build-tests` first", sourceLocation: sourceLocation)
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let out = directory.appendingPathComponent("stdout"), err = directory.appendingPathComponent("stderr")
    try Data().write(to: out)
    try Data().write(to: err)
    let process = Process()
    if let memoryLimitKiB {
      process.executableURL = URL(fileURLWithPath: "/bin/sh")
      process.arguments = ["-c", "ulimit -v \(memoryLimitKiB) && exec \"$0\" \"$@\"", executable.path] + arguments
    } else {
      process.executableURL = executable
      process.arguments = arguments
    }
    var environment = ProcessInfo.processInfo.environment
    environment["OPENBLAS_NUM_THREADS"] = "1"
    process.environment = environment
    let outHandle = try FileHandle(forWritingTo: out), errHandle = try FileHandle(forWritingTo: err)
    process.standardOutput = outHandle
    process.standardError = errHandle
    process.standardInput = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    try outHandle.close()
    try errHandle.close()
    return Run(
      status: process.terminationStatus,
      stdout: String(decoding: try Data(contentsOf: out), as: UTF8.self),
      stderr: String(decoding: try Data(contentsOf: err), as: UTF8.self))
  }

  /// Runs `curv arguments` (under `ulimit -v memoryLimitKiB` when given), which must fail —
  /// with `status` when given — printing one stderr line `curv <subcommand>: error: …` that
  /// contains every string of `expected` (and no crash report), nothing on stdout, and
  /// leaving `directory` as it was: no file written, changed or left behind.
  static func expectFailure(
    _ arguments: [String], in directory: URL, _ expected: [String], status: Int32? = nil,
    memoryLimitKiB: Int? = nil, sourceLocation: SourceLocation = #_sourceLocation
  ) throws {
    let before = try snapshot(directory)
    let run = try run(arguments, memoryLimitKiB: memoryLimitKiB)
    #expect(run.status != 0, "exit status 0 for \(arguments)", sourceLocation: sourceLocation)
    if let status { #expect(run.status == status, "\(arguments): \(run.stderr)", sourceLocation: sourceLocation) }
    #expect(run.errorLines.count == 1, "stderr is not one line: \(run.stderr)", sourceLocation: sourceLocation)
    let line = String(run.errorLines.first ?? "")
    #expect(line.hasPrefix("curv \(arguments[0]): error: "), "\(line)", sourceLocation: sourceLocation)
    for text in expected { #expect(line.contains(text), "'\(text)' not in: \(line)", sourceLocation: sourceLocation) }
    #expect(!line.contains("Fatal error") && !line.contains("Stack dump"), sourceLocation: sourceLocation)
    #expect(run.stdout.isEmpty, "stdout: \(run.stdout)", sourceLocation: sourceLocation)
    #expect(try snapshot(directory) == before, "files were written, changed or left behind", sourceLocation: sourceLocation)
  }

  /// The names and contents of the files in `directory` (directories as empty contents).
  static func snapshot(_ directory: URL) throws -> [String: SparseContents] {
    var files = [String: SparseContents]()
    for name in try contents(of: directory) {
      var isDirectory: ObjCBool = false
      let path = directory.appendingPathComponent(name).path
      _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
      files[name] = isDirectory.boolValue ? SparseContents(size: 0, segments: [:]) : try SparseContents(path)
    }
    return files
  }

  /// A file's contents without its holes: its size and the bytes of its data segments by
  /// offset. Holes read as zeros, so equal values mean equal contents; the huge sparse files
  /// of CLIMemoryLimitTests (8 GiB claimed, a few hundred bytes written) cost what they hold
  /// instead of 8 GiB of zeros read into memory per snapshot.
  struct SparseContents: Equatable {
    var size: Int
    var segments: [Int: Data]

    init(size: Int, segments: [Int: Data]) {
      self.size = size
      self.segments = segments
    }

    init(_ path: String) throws {
      let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
      defer { try? handle.close() }
      size = Int(try handle.seekToEnd())
      segments = [:]
      var offset = 0
      while offset < size {
        let found = Self.seek(handle.fileDescriptor, offset, Self.seekData)
        if found == -1 && errno == ENXIO { break }   // only a hole after offset
        let start = found.map { $0 >= 0 ? $0 : offset } ?? offset
        guard start < size else { break }
        let hole = Self.seek(handle.fileDescriptor, start, Self.seekHole) ?? size
        let end = hole > start ? Swift.min(hole, size) : size
        try handle.seek(toOffset: UInt64(start))
        segments[start] = try handle.read(upToCount: end - start) ?? Data()
        offset = end
      }
    }

    // Linux's SEEK_DATA and SEEK_HOLE, which Glibc's Swift module does not export; where
    // they do not apply, the whole file is one data segment (nil: seek not tried).
    #if os(Linux)
      static let (seekData, seekHole): (Int32, Int32) = (3, 4)
      static func seek(_ fd: Int32, _ offset: Int, _ whence: Int32) -> Int? { Int(lseek(fd, off_t(offset), whence)) }
    #else
      static let (seekData, seekHole): (Int32, Int32) = (0, 0)
      static func seek(_ fd: Int32, _ offset: Int, _ whence: Int32) -> Int? { nil }
    #endif
  }

  /// A new empty directory under the system's temporary directory.
  static func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("curv-cli-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  /// The files in a directory (hidden ones included), sorted.
  static func contents(of directory: URL) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
  }

  /// Reads a float64 `.npy` file.
  static func readNPY(_ url: URL) throws -> NDArray<Double> {
    try NPYArray(contentsOf: url).floats(as: Double.self)
  }

  /// `Tests/CurvatureTests/Fixtures/<group>/<name>`.
  static func committedFixture(_ group: String, _ name: String) -> URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("Fixtures").appendingPathComponent(group).appendingPathComponent(name)
  }
}

/// A model, weights and data written to a temporary directory, with the library's view of
/// them for reference values.
struct CLIFixture {
  var directory: URL
  var model: Sequential<Double>
  var loss: Loss<Double>
  var inputs: NDArray<Double>
  var targets: Targets<Double>

  var modelPath: String { directory.appendingPathComponent("model.json").path }
  var weightsPath: String { directory.appendingPathComponent("weights.safetensors").path }
  var inputsPath: String { directory.appendingPathComponent("X.npy").path }
  var targetsPath: String { directory.appendingPathComponent("y.npy").path }

  /// `--model … --weights … --inputs … --targets …`.
  var fileArguments: [String] {
    ["--model", modelPath, "--weights", weightsPath, "--inputs", inputsPath, "--targets", targetsPath]
  }

  /// A 4-6-3 tanh MLP with cross-entropy (P = 51) on 12 seeded points, or a 3-5-2 sigmoid
  /// MLP with MSE (P = 32).
  static func make(mse: Bool = false, count: Int = 12, seed: UInt64 = 5) throws -> CLIFixture {
    let directory = try CLI.temporaryDirectory()
    var rng = RandomGenerator(seed: seed)
    let model: Sequential<Double>, loss: Loss<Double>, inputs: NDArray<Double>, targets: Targets<Double>
    if mse {
      model = try Sequential([Linear(inFeatures: 3, outFeatures: 5), Sigmoid(), Linear(inFeatures: 5, outFeatures: 2)], seed: seed)
      loss = Loss(.mse, reduction: .mean)
      inputs = rng.normalArray(shape: [count, 3])
      targets = .values(rng.normalArray(shape: [count, 2]))
    } else {
      model = try Sequential([Linear(inFeatures: 4, outFeatures: 6), Tanh(), Linear(inFeatures: 6, outFeatures: 3)], seed: seed)
      loss = Loss(.crossEntropy, reduction: .mean)
      inputs = rng.normalArray(shape: [count, 4])
      targets = .classes((0..<count).map { _ in rng.integer(below: 3) })
    }
    let fixture = CLIFixture(directory: directory, model: model, loss: loss, inputs: inputs, targets: targets)
    try ModelFile(model: model, loss: loss).write(
      description: URL(fileURLWithPath: fixture.modelPath), weights: URL(fileURLWithPath: fixture.weightsPath))
    try NPYArray(inputs).write(to: URL(fileURLWithPath: fixture.inputsPath))
    switch targets {
    case let .classes(labels): try NPYArray(integers: labels).write(to: URL(fileURLWithPath: fixture.targetsPath))
    case let .values(values): try NPYArray(values).write(to: URL(fileURLWithPath: fixture.targetsPath))
    }
    return fixture
  }

  /// The curvature problem the CLI sets up (float64, whole set in one batch).
  func problem() throws -> CurvatureProblem<Double> {
    try CurvatureProblem(model: model, loss: loss, data: ArrayDataset(inputs: inputs, targets: targets))
  }

  /// A path in the fixture's directory.
  func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

  func remove() { try? FileManager.default.removeItem(at: directory) }
}
