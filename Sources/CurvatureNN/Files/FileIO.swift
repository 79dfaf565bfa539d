#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif
#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// The message of a C `errno` value.
func systemErrorMessage(_ code: Int32) -> String {
  guard let text = strerror(code) else { return "error \(code)" }
  return String(cString: text)
}

/// `write(2)`, callable where a method named `write` shadows it.
private func systemWrite(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
  write(fd, bytes, count)
}

/// `close(2)`, callable where a method named `close` shadows it.
private func systemClose(_ fd: Int32) -> Int32 {
  close(fd)
}

/// A file opened for reading at arbitrary offsets with `pread`, which is safe to share
/// between threads. The descriptor is closed when the last reference goes away.
final class RandomAccessFile: Sendable {
  /// The path the file was opened with (used in error messages).
  let path: String
  /// The open descriptor.
  let descriptor: Int32
  /// The size in bytes when the file was opened.
  let size: Int

  /// Opens `path` for reading.
  /// - Throws: `FileFormatError` when the file cannot be opened or is a directory.
  init(path: String) throws {
    self.path = path
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else {
      let code = errno
      throw FileFormatError(
        path: path, location: "file", problem: "cannot open the file for reading",
        expected: "a readable file", found: systemErrorMessage(code))
    }
    var info = stat()
    guard fstat(fd, &info) == 0 else {
      let code = errno
      close(fd)
      throw FileFormatError(
        path: path, location: "file", problem: "cannot inspect the file",
        expected: "a readable file", found: systemErrorMessage(code))
    }
    guard (info.st_mode & S_IFMT) == S_IFREG else {
      close(fd)
      throw FileFormatError(
        path: path, location: "file", problem: "not a regular file",
        expected: "a regular file", found: (info.st_mode & S_IFMT) == S_IFDIR ? "a directory" : "a special file")
    }
    self.descriptor = fd
    self.size = Int(info.st_size)
  }

  deinit { close(descriptor) }

  /// Fills `buffer` with the bytes starting at `offset`.
  /// - Throws: `FileFormatError` when the bytes are past the end or cannot be read.
  func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws {
    var done = 0
    while done < buffer.count {
      let result = pread(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
      if result < 0 {
        let code = errno
        if code == EINTR { continue }
        throw FileFormatError(
          path: path, location: "byte \(offset + done)", problem: "cannot read the file",
          expected: "\(buffer.count) readable bytes", found: systemErrorMessage(code))
      }
      if result == 0 {
        throw FileFormatError(
          path: path, location: "byte \(offset + done)", problem: "unexpected end of file",
          expected: "\(buffer.count) bytes from byte \(offset)", found: "\(done) (the file changed while open?)")
      }
      done += result
    }
  }

  /// The `count` bytes starting at `offset`.
  /// - Throws: `FileFormatError` when the bytes are past the end or cannot be read.
  func bytes(at offset: Int, count: Int) throws -> [UInt8] {
    guard count > 0 else { return [] }
    var failure: (any Error)?
    let result = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
      do {
        try read(into: UnsafeMutableRawBufferPointer(buffer), at: offset)
        initialized = count
      } catch {
        failure = error
        initialized = 0
      }
    }
    if let failure { throw failure }
    return result
  }
}

/// A file written sequentially and moved into place when complete.
///
/// The bytes go to a temporary file in the destination's directory, which `close()`
/// renames over the destination, so a failed or abandoned write never leaves a partial
/// file (and never clobbers an existing one). Only a regular file (or nothing) is ever
/// replaced: a symbolic link is written through (its target is replaced and the link
/// kept), and a directory, FIFO, socket or device is refused untouched.
final class SequentialFileWriter {
  /// The path (used in error messages).
  let path: String
  /// The file that `close()` replaces: `path`, or the target of the link at `path`.
  private let destination: String
  /// The temporary file the bytes go to until `close()` renames it to `destination`.
  private let temporaryPath: String
  private var descriptor: Int32
  /// The number of bytes written so far.
  private(set) var offset = 0

  /// Starts writing the file at `url`.
  /// - Throws: `FileFormatError` for a URL that names a directory (a trailing slash), and
  ///   as `init(path:)`.
  convenience init(url: URL) throws {
    if url.hasDirectoryPath {
      var info = stat()
      let isDirectory = stat(url.path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
      throw FileFormatError(
        path: url.path + (isDirectory ? "" : "/"), location: "file", problem: "cannot write a file at a directory path",
        expected: "a file name (no trailing slash)", found: isDirectory ? "a directory" : "a path ending in '/'")
    }
    try self.init(path: url.path)
  }

  /// Starts writing `path`.
  /// - Throws: `FileFormatError` when `path` is (or links to) something other than a
  ///   regular file, or the temporary file cannot be created.
  init(path: String) throws {
    self.path = path
    destination = try Self.destination(of: path)
    // A short fixed-length name: a destination name of up to 255 bytes must still work.
    let directory = destination.contains("/") ? String(destination[...destination.lastIndex(of: "/")!]) : ""
    var generator = SystemRandomNumberGenerator()
    temporaryPath = directory + ".curv-\(String(UInt32(truncatingIfNeeded: getpid()), radix: 16))-\(String(generator.next() & 0xFFFF_FFFF, radix: 16)).tmp"
    descriptor = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else {
      let code = errno
      throw FileFormatError(
        path: path, location: "file", problem: "cannot create the file",
        expected: "a writable location", found: systemErrorMessage(code))
    }
  }

  /// The file to replace for `path`: `path` itself when it is a regular file or does not
  /// exist, the final target when it is a symbolic link to a regular file.
  /// - Throws: `FileFormatError` for a directory, a FIFO, a socket, a device, a link to
  ///   one of them, or a link to nothing.
  private static func destination(of path: String) throws -> String {
    func refuse(_ found: String, _ at: String = path) -> FileFormatError {
      FileFormatError(
        path: path, location: "file", problem: "refusing to replace something other than a regular file",
        expected: "a regular file or a new name", found: at == path ? found : "a symbolic link to \(found) '\(at)'")
    }
    func kind(_ mode: mode_t) -> String? {
      switch mode & S_IFMT {
      case S_IFREG: nil
      case S_IFDIR: "a directory"
      case S_IFIFO: "a FIFO"
      case S_IFSOCK: "a socket"
      case S_IFCHR: "a character device"
      case S_IFBLK: "a block device"
      default: "a special file"
      }
    }
    var info = stat()
    guard lstat(path, &info) == 0 else {
      let code = errno
      if code == ENOENT { return path }
      throw FileFormatError(
        path: path, location: "file", problem: "cannot inspect the destination", expected: "an accessible path",
        found: systemErrorMessage(code))
    }
    guard (info.st_mode & S_IFMT) == S_IFLNK else {
      if let found = kind(info.st_mode) { throw refuse(found) }
      return path
    }
    guard let resolved = realpath(path, nil) else {
      let code = errno
      throw FileFormatError(
        path: path, location: "file", problem: "cannot resolve the symbolic link", expected: "a link to a regular file",
        found: systemErrorMessage(code))
    }
    defer { free(resolved) }
    let target = String(cString: resolved)
    guard stat(target, &info) == 0 else { return target }
    if let found = kind(info.st_mode) { throw refuse(found, target) }
    return target
  }

  deinit {
    // Abandoned (an error before `close()`): drop the partial temporary file.
    if descriptor >= 0 {
      _ = systemClose(descriptor)
      _ = unlink(temporaryPath)
    }
  }

  /// Appends `bytes`.
  /// - Throws: `FileFormatError` when the write fails (for example, a full disk).
  func write(_ bytes: UnsafeRawBufferPointer) throws {
    var done = 0
    while done < bytes.count {
      let result = systemWrite(descriptor, bytes.baseAddress! + done, bytes.count - done)
      if result < 0 {
        let code = errno
        if code == EINTR { continue }
        throw FileFormatError(
          path: path, location: "byte \(offset + done)", problem: "cannot write the file",
          expected: "\(bytes.count - done) more bytes written", found: systemErrorMessage(code))
      }
      done += result
    }
    offset += bytes.count
  }

  /// Appends `bytes`.
  /// - Throws: `FileFormatError` when the write fails.
  func write(_ bytes: [UInt8]) throws {
    try bytes.withUnsafeBytes { try write($0) }
  }

  /// Flushes and closes the file, then moves it into place at `path` (through a link).
  /// - Throws: `FileFormatError` when closing reports a deferred write error or the rename
  ///   fails; the temporary file is removed then.
  func close() throws {
    let fd = descriptor
    descriptor = -1
    if systemClose(fd) != 0 {
      let code = errno
      _ = unlink(temporaryPath)
      throw FileFormatError(
        path: path, location: "file", problem: "cannot finish writing the file",
        expected: "a successful close", found: systemErrorMessage(code))
    }
    if rename(temporaryPath, destination) != 0 {
      let code = errno
      _ = unlink(temporaryPath)
      throw FileFormatError(
        path: path, location: "file", problem: "cannot move the written file into place",
        expected: "a successful rename", found: systemErrorMessage(code))
    }
  }
}

/// Where the bytes of an `.npy` array come from: a region of an open file (an `.npy` file,
/// or a stored member of an `.npz` archive) or memory (a decompressed member).
enum ByteSource: Sendable {
  case file(RandomAccessFile, base: Int, length: Int)
  case memory([UInt8])

  /// The number of bytes.
  var length: Int {
    switch self {
    case .file(_, _, let length): length
    case .memory(let bytes): bytes.count
    }
  }

  /// Fills `buffer` with the bytes starting at `offset` (relative to the source).
  func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws {
    precondition(offset >= 0 && offset + buffer.count <= length, "ByteSource: read past the end")
    guard buffer.count > 0 else { return }
    switch self {
    case .file(let file, let base, _):
      try file.read(into: buffer, at: base + offset)
    case .memory(let bytes):
      bytes.withUnsafeBytes { source in
        buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[offset..<offset + buffer.count]))
      }
    }
  }

  /// The `count` bytes starting at `offset`.
  func bytes(at offset: Int, count: Int) throws -> [UInt8] {
    precondition(offset >= 0 && offset + count <= length, "ByteSource: read past the end")
    switch self {
    case .file(let file, let base, _):
      return try file.bytes(at: base + offset, count: count)
    case .memory(let bytes):
      return Array(bytes[offset..<offset + count])
    }
  }
}

