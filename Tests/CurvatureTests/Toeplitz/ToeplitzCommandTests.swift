import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// Runs the built `curv` binary (`curv toeplitz`) on small `.npy` files written here.
@Suite struct ToeplitzCommandTests {
  /// `curv` next to the test bundle (both are products in the same build directory).
  static func curvExecutable() throws -> URL {
    let exe = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
    var directory = exe.deletingLastPathComponent()
    for _ in 0..<4 {
      let candidate = directory.appendingPathComponent("curv")
      if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
      directory = directory.deletingLastPathComponent()
    }
    throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "no curv binary near \(exe.path); run swift build --build-tests first"])
  }

  /// Writes a float64 (or float32) C-order `.npy` file.
  static func writeNPY(_ values: [Double], shape: [Int], to url: URL, float32: Bool = false) throws {
    let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    var header = "{'descr': '\(float32 ? "<f4" : "<f8")', 'fortran_order': False, 'shape': \(shapeText), }"
    header += String(repeating: " ", count: (64 - (11 + header.utf8.count) % 64) % 64) + "\n"
    var bytes: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)]
    bytes += Array(header.utf8)
    for value in values {
      if float32 {
        withUnsafeBytes(of: Float(value).bitPattern.littleEndian) { bytes += $0 }
      } else {
        withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 }
      }
    }
    try Data(bytes).write(to: url)
  }

  /// The float64 payload and shape text of a `.npy` file written by `curv`.
  static func readNPY(_ url: URL) throws -> (header: String, values: [Double]) {
    let bytes = [UInt8](try Data(contentsOf: url))
    let length = Int(bytes[8]) | Int(bytes[9]) << 8
    let header = String(decoding: bytes[10..<(10 + length)], as: UTF8.self)
    let payload = bytes[(10 + length)...]
    let values = stride(from: payload.startIndex, to: payload.endIndex, by: 8).map { start in
      Double(bitPattern: payload[start..<(start + 8)].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * $1.offset) })
    }
    return (header, values)
  }

  /// Runs `curv` with arguments, returning the exit status, stdout and stderr.
  static func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
    let process = Process()
    process.executableURL = try curvExecutable()
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
  }

  static func scratchDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("curv-toeplitz-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  @Test func solvesToeplitzAndBTTBSystemsWithJSONOutput() throws {
    let dir = try Self.scratchDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let n = 40
    let column = (0..<n).map { Double.pow(0.7, Double($0)) }
    try Self.writeNPY(column, shape: [n], to: dir.appendingPathComponent("c.npy"))
    try Self.writeNPY([Double](repeating: 1, count: n), shape: [n], to: dir.appendingPathComponent("b.npy"), float32: true)
    let output = dir.appendingPathComponent("x.npy")
    let run = try Self.run([
      "toeplitz", "--column", dir.appendingPathComponent("c.npy").path, "--rhs", dir.appendingPathComponent("b.npy").path,
      "--preconditioner", "chan", "--tol", "1e-9", "--json", "--output", output.path,
    ])
    #expect(run.status == 0, "stderr: \(run.stderr)")
    let object = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
    #expect(Set(object.keys) == ["iterations", "relative_residual", "seconds"])
    let iterations = try #require(object["iterations"] as? Int)
    let residual = try #require(object["relative_residual"] as? Double)
    #expect(iterations >= 1 && iterations <= 10 && residual <= 1e-8)
    #expect((object["seconds"] as? Double).map { $0 >= 0 } == true)
    // The solution solves the system.
    let (header, x) = try Self.readNPY(output)
    #expect(header.contains("'<f8'") && header.contains("(40,)"))
    let t = try ToeplitzOperator(symmetric: column)
    assertClose(try t.apply(NDArray(x)), NDArray(repeating: 1, shape: [n]), rtol: 1e-7, atol: 1e-7)

    // 2-level: an RBF kernel plus a nugget on a 6×5 grid, right-hand side as a grid.
    let (n1, n2) = (6, 5)
    let g = (0..<((2 * n1 - 1) * (2 * n2 - 1))).map { i -> Double in
      let (p, q) = (i / (2 * n2 - 1) - n1 + 1, i % (2 * n2 - 1) - n2 + 1)
      return Double.exp(-Double(p * p + q * q) / 4) + (p == 0 && q == 0 ? 0.1 : 0)
    }
    try Self.writeNPY(g, shape: [2 * n1 - 1, 2 * n2 - 1], to: dir.appendingPathComponent("G.npy"))
    try Self.writeNPY([Double](repeating: 1, count: n1 * n2), shape: [n1, n2], to: dir.appendingPathComponent("b2.npy"))
    for preconditioner in ["none", "igf", "kronecker"] {
      let grid = try Self.run([
        "toeplitz", "--bttb", dir.appendingPathComponent("G.npy").path, "--rhs", dir.appendingPathComponent("b2.npy").path,
        "--preconditioner", preconditioner, "--json", "--output", output.path,
      ])
      #expect(grid.status == 0, "\(preconditioner): \(grid.stderr)")
      let result = try #require(try JSONSerialization.jsonObject(with: Data(grid.stdout.utf8)) as? [String: Any])
      #expect((result["relative_residual"] as? Double).map { $0 <= 1e-7 } == true, "\(preconditioner): \(grid.stdout)")
      #expect(try Self.readNPY(output).header.contains("(6, 5)"))
    }
  }

  @Test func badInputExitsWithOneLine() throws {
    let dir = try Self.scratchDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    try Self.writeNPY([2, 1, 0.5], shape: [3], to: dir.appendingPathComponent("c.npy"))
    try Self.writeNPY([3, 1, 0.5], shape: [3], to: dir.appendingPathComponent("r.npy"))
    try Self.writeNPY([1, 1, 1], shape: [3], to: dir.appendingPathComponent("b.npy"))
    let path = { (name: String) in dir.appendingPathComponent(name).path }
    let corner = try Self.run(["toeplitz", "--column", path("c.npy"), "--row", path("r.npy"), "--rhs", path("b.npy")])
    #expect(corner.status != 0)
    #expect(corner.stderr.split(separator: "\n").count == 1 && corner.stderr.contains("column[0]"), "stderr: \(corner.stderr)")
    #expect(corner.stdout.isEmpty)
    // A missing file, an unknown preconditioner, and kronecker on a 1-level matrix.
    for arguments in [
      ["toeplitz", "--column", path("missing.npy"), "--rhs", path("b.npy")],
      ["toeplitz", "--column", path("c.npy"), "--rhs", path("b.npy"), "--preconditioner", "magic"],
      ["toeplitz", "--column", path("c.npy"), "--rhs", path("b.npy"), "--preconditioner", "kronecker"],
    ] {
      let run = try Self.run(arguments)
      #expect(run.status != 0 && run.stderr.split(separator: "\n").count == 1, "\(arguments): \(run.stderr)")
    }
  }

  @Test func symbolSamplesDriveIGFAndBand() throws {
    let dir = try Self.scratchDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = { (name: String) in dir.appendingPathComponent(name).path }
    let (n, m, rho) = (64, 256, 0.6)
    // KMS: T[1/f] from the exact symbol makes PCG stop within 3 iterations.
    try Self.writeNPY((0..<n).map { Double.pow(rho, Double($0)) }, shape: [n], to: URL(fileURLWithPath: path("kms.npy")))
    let kmsSymbol = GeneratingFunction.samples(of: { (1 - rho * rho) / (1 - 2 * rho * Double.cos($0) + rho * rho) }, gridSize: m)
    try Self.writeNPY(kmsSymbol, shape: [m], to: URL(fileURLWithPath: path("kms-f.npy")))
    try Self.writeNPY([Double](repeating: 1, count: n), shape: [n], to: URL(fileURLWithPath: path("b.npy")))
    let igf = try Self.run(["toeplitz", "--column", path("kms.npy"), "--rhs", path("b.npy"), "--preconditioner", "igf", "--symbol", path("kms-f.npy"), "--json"])
    #expect(igf.status == 0, "\(igf.stderr)")
    let igfResult = try #require(try JSONSerialization.jsonObject(with: Data(igf.stdout.utf8)) as? [String: Any])
    #expect((igfResult["iterations"] as? Int).map { $0 <= 3 } == true, "\(igf.stdout)")
    // θ² with the band preconditioner chosen from its samples.
    try Self.writeNPY(ClassicalSymbols.column(n, ClassicalSymbols.quadratic), shape: [n], to: URL(fileURLWithPath: path("q.npy")))
    try Self.writeNPY(GeneratingFunction.samples(of: { $0 * $0 }, gridSize: m), shape: [m], to: URL(fileURLWithPath: path("q-f.npy")))
    let band = try Self.run(["toeplitz", "--column", path("q.npy"), "--rhs", path("b.npy"), "--preconditioner", "band", "--symbol", path("q-f.npy")])
    #expect(band.status == 0 && band.stdout.contains("ν = 1"), "\(band.stdout) \(band.stderr)")
    // Samples taken on [0, 2π) instead of (−π, π] are not even: one clear line.
    try Self.writeNPY((0..<m).map { j in Double.pow(2 * .pi * Double(j) / Double(m), 2) + 1 }, shape: [m], to: URL(fileURLWithPath: path("bad-f.npy")))
    let bad = try Self.run(["toeplitz", "--column", path("kms.npy"), "--rhs", path("b.npy"), "--preconditioner", "igf", "--symbol", path("bad-f.npy")])
    #expect(bad.status != 0 && bad.stderr.split(separator: "\n").count == 1 && bad.stderr.contains("not even"), "\(bad.stderr)")
  }
}
