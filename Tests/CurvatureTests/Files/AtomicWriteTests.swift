import Curvature
import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#endif

private typealias Support = FilesTestSupport

/// The file type bits of `path` itself (not of a link's target).
private func fileType(_ path: String) -> mode_t? {
  var info = stat()
  return lstat(path, &info) == 0 ? info.st_mode & S_IFMT : nil
}

/// What the writers do at a destination that is not a plain file (issue 20 §5): write
/// through a symbolic link, refuse directories, FIFOs and devices untouched, refuse a
/// trailing slash, accept a 250-byte name, and leave no temporary file behind.
@Suite struct AtomicWriteTests {
  private let array = NPYArray(NDArray<Double>([1, 2, 3]))

  /// The names in `directory`, sorted.
  private func contents(_ directory: URL) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
  }

  @Test func writesThroughASymbolicLink() throws {
    try Support.withScratchDirectory { directory in
      let target = directory.appendingPathComponent("real.npy")
      try Data("old contents".utf8).write(to: target)
      let link = directory.appendingPathComponent("link.npy")
      try FileManager.default.createSymbolicLink(atPath: link.path, withDestinationPath: "real.npy")
      try array.write(to: link)
      #expect(fileType(link.path) == S_IFLNK)
      #expect(try NPYArray(contentsOf: target) == array)
      #expect(try contents(directory) == ["link.npy", "real.npy"])
    }
  }

  @Test func refusesADirectory() throws {
    try Support.withScratchDirectory { directory in
      let url = directory.appendingPathComponent("out.npy")
      try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false)
      expectFileFormatError("out.npy", "a directory") { try array.write(to: URL(fileURLWithPath: url.path)) }
      expectFileFormatError("out.npy", "a directory") { try NPZFile.write([("x", array)], to: URL(fileURLWithPath: url.path)) }
      #expect(fileType(url.path) == S_IFDIR)
      #expect(try contents(directory) == ["out.npy"])
      let inside = try contents(url)
      #expect(inside.isEmpty)
    }
  }

  @Test func refusesAFIFO() throws {
    try Support.withScratchDirectory { directory in
      let url = directory.appendingPathComponent("pipe.npy")
      try #require(mkfifo(url.path, 0o644) == 0)
      expectFileFormatError("pipe.npy", "refusing to replace", "a FIFO") { try array.write(to: url) }
      let weights = [("w", NDArray<Float>([1]))]
      expectFileFormatError("pipe.npy", "a FIFO") { try SafetensorsFile.write(weights, to: url) }
      #expect(fileType(url.path) == S_IFIFO)
      #expect(try contents(directory) == ["pipe.npy"])
    }
  }

  @Test func refusesADeviceAndALinkToOne() throws {
    try Support.withScratchDirectory { directory in
      // A link to /dev/null: the device must survive (as root, rename would replace it).
      let link = directory.appendingPathComponent("null.npy")
      try FileManager.default.createSymbolicLink(atPath: link.path, withDestinationPath: "/dev/null")
      expectFileFormatError("null.npy", "a symbolic link to a character device '/dev/null'") { try array.write(to: link) }
      #expect(fileType("/dev/null") == S_IFCHR)
      // A device node of our own, when allowed to make one (root): refused as well.
      let device = directory.appendingPathComponent("device.npy")
      if mknod(device.path, S_IFCHR | 0o666, dev_t(1 << 8 | 3)) == 0 {
        expectFileFormatError("device.npy", "a character device") { try array.write(to: device) }
        #expect(fileType(device.path) == S_IFCHR)
      }
      #expect(try contents(directory).allSatisfy { ["null.npy", "device.npy"].contains($0) })
    }
  }

  @Test func refusesATrailingSlash() throws {
    try Support.withScratchDirectory { directory in
      let url = URL(fileURLWithPath: directory.path + "/OUT.npy/")
      expectFileFormatError("OUT.npy/", "trailing slash") { try array.write(to: url) }
      expectFileFormatError("OUT.npy/", "trailing slash") { try NPZFile.write([("x", array)], to: url) }
      let names = try contents(directory)
      #expect(names.isEmpty)
    }
  }

  @Test func acceptsA250ByteName() throws {
    try Support.withScratchDirectory { directory in
      let name = String(repeating: "n", count: 246) + ".npy"
      let url = directory.appendingPathComponent(name)
      try array.write(to: url)
      #expect(try NPYArray(contentsOf: url) == array)
      try NPZFile.write([("x", array)], to: url)  // replacing it works too
      #expect(try NPZFile(contentsOf: url).array(named: "x") == array)
      #expect(try contents(directory) == [name])
    }
  }

  @Test func failedWriteLeavesNothing() throws {
    try Support.withScratchDirectory { directory in
      let url = directory.appendingPathComponent("missing-directory/out.npy")
      expectFileFormatError("out.npy", "cannot create the file") { try array.write(to: url) }
      let names = try contents(directory)
      #expect(names.isEmpty)
    }
  }
}
