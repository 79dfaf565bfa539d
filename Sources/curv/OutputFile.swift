import Curvature
import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

// The files curv writes: checked before any work (the directory is writable, the path is
// none of the inputs), written atomically (a temporary file renamed into place).

/// Requires that `path` names a readable regular file.
/// - Throws: `CLIError` naming the option and the path.
func requireFile(_ path: String, option: String) throws {
  var isDirectory: ObjCBool = false
  guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
    throw CLIError("\(option) \(path): no such file")
  }
  guard !isDirectory.boolValue else { throw CLIError("\(option) \(path): is a directory, expected a file") }
  guard FileManager.default.isReadableFile(atPath: path) else { throw CLIError("\(option) \(path): the file is not readable") }
}

/// Checks, before any work, that `path` can be written: its directory exists and is
/// writable, the path is not a directory, and it is not one of the run's input files
/// (compared by device and inode, so another spelling, a hard link or a symbolic link to
/// an input is refused too: no run changes a file other than its own output).
/// - Parameters:
///   - path: The output path.
///   - option: The option naming it.
///   - inputs: The files the run reads, with the options naming them.
/// - Throws: `CLIError` naming the path and the problem.
func checkOutputPath(_ path: String, option: String = "--output", inputs: [(option: String, path: String)] = []) throws {
  guard !path.isEmpty else { throw CLIError("\(option): the path is empty") }
  let url = URL(fileURLWithPath: path)
  let directory = url.deletingLastPathComponent().path
  var isDirectory: ObjCBool = false
  guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
    throw CLIError("\(option) \(path): the directory \(directory) does not exist")
  }
  guard access(directory, W_OK) == 0 else {
    throw CLIError("\(option) \(path): the directory \(directory) is not writable")
  }
  if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue {
    throw CLIError("\(option) \(path) is a directory, expected a file path")
  }
  guard let output = fileIdentity(path) else { return }  // a new file is no input
  for input in inputs where fileIdentity(input.path) == output {
    throw CLIError("\(option) \(path) is the same file as \(input.option) \(input.path); refusing to overwrite an input")
  }
}

/// The device and inode of the file `path` names, following symbolic links; nil when
/// there is none.
func fileIdentity(_ path: String) -> [UInt64]? {
  var info = stat()
  guard stat(path, &info) == 0 else { return nil }
  return [UInt64(info.st_dev), UInt64(info.st_ino)]
}

/// Writes a file atomically: `write` fills a temporary file in the same directory, which
/// is then renamed over `path`; on any failure the temporary file is removed, so no
/// partial output is left behind.
/// - Throws: What `write` throws, or `CLIError` when the rename fails.
func writeAtomically(to path: String, _ write: (URL) throws -> Void) throws {
  // Under mpiexec only rank 0 writes (every rank holds the same result).
  guard runCommunicator.isRoot else { return }
  let url = URL(fileURLWithPath: path)
  let temporary = url.deletingLastPathComponent()
    .appendingPathComponent(".\(url.lastPathComponent).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp")
  do {
    try write(temporary)
  } catch {
    try? FileManager.default.removeItem(at: temporary)
    throw error
  }
  guard rename(temporary.path, url.path) == 0 else {
    let reason = String(cString: strerror(errno))
    try? FileManager.default.removeItem(at: temporary)
    throw CLIError("cannot write \(path): \(reason)")
  }
}

/// Writes an array as a float64 `.npy` file, atomically.
func writeNPY<T: BLASScalar>(_ array: NDArray<T>, to path: String) throws {
  let values = array.converted(to: Double.self)
  try writeAtomically(to: path) { url in try Curvature.NPYArray(values).write(to: url) }
}

/// Writes text atomically.
func writeText(_ text: String, to path: String) throws {
  try writeAtomically(to: path) { url in try Data(text.utf8).write(to: url) }
}
