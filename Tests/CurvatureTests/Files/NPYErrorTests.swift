import Curvature
import Foundation
import Testing

private typealias Support = FilesTestSupport

/// An `.npy` file with the given header text (padded like NumPy's) and data bytes.
private func npyFile(_ header: String, data: [UInt8] = [], version: UInt8 = 1) -> [UInt8] {
  var text = Array(header.utf8)
  let prefix = version == 1 ? 10 : 12
  text += [UInt8](repeating: 0x20, count: 63 - (prefix + text.count) % 64) + [0x0A]
  var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [version, 0]
  let length = text.count
  bytes += version == 1 ? [UInt8(length & 0xFF), UInt8(length >> 8)] : [UInt8(length & 0xFF), UInt8(length >> 8), 0, 0]
  return bytes + text + data
}

/// One test per way an `.npy` file can be wrong; each message must name the file and the
/// specific problem.
@Suite struct NPYErrorTests {
  @Test func badMagic() throws {
    try Support.withScratchDirectory { directory in
      let url = try Support.write(Array("PK\u{3}\u{4} not numpy at all".utf8), named: "bad_magic.npy", in: directory)
      expectFileFormatError("bad_magic.npy", "bad magic", "byte 0", "\\x93NUMPY") { _ = try NPYArray(contentsOf: url) }
    }
  }

  @Test func unsupportedVersion() throws {
    try Support.withScratchDirectory { directory in
      var bytes = npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", data: [0, 0, 0, 0])
      bytes[6] = 4
      let url = try Support.write(bytes, named: "version4.npy", in: directory)
      expectFileFormatError("version4.npy", "unsupported .npy format version", "version 4.0") {
        _ = try NPYArray(contentsOf: url)
      }
    }
  }

  @Test func truncatedHeader() throws {
    try Support.withScratchDirectory { directory in
      let bytes = Array(npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }").prefix(30))
      let url = try Support.write(bytes, named: "cut_header.npy", in: directory)
      expectFileFormatError("cut_header.npy", "truncated header", "118 header bytes", "20 bytes left") {
        _ = try NPYArray(contentsOf: url)
      }
      let tiny = try Support.write([0x93] + Array("NUMPY".utf8) + [1], named: "tiny.npy", in: directory)
      expectFileFormatError("tiny.npy", "truncated header", "7 bytes") { _ = try NPYArray(contentsOf: tiny) }
    }
  }

  @Test func headerNotADictLiteral() throws {
    try Support.withScratchDirectory { directory in
      let list = try Support.write(npyFile("['descr', '<f4']"), named: "list_header.npy", in: directory)
      expectFileFormatError("list_header.npy", "not a Python dict literal") { _ = try NPYArray(contentsOf: list) }
      let garbage = try Support.write(
        npyFile("{'descr': <f4, 'shape': (2,)}"), named: "garbage_header.npy", in: directory)
      expectFileFormatError("garbage_header.npy", "not a Python dict literal", "byte 20") {
        _ = try NPYArray(contentsOf: garbage)
      }
    }
  }

  @Test(arguments: ["descr", "fortran_order", "shape"])
  func missingField(_ field: String) throws {
    let fields = ["descr": "'<f4'", "fortran_order": "False", "shape": "(1,)"].filter { $0.key != field }
    let header = "{" + fields.keys.sorted().map { "'\($0)': \(fields[$0]!), " }.joined() + "}"
    try Support.withScratchDirectory { directory in
      let url = try Support.write(npyFile(header, data: [0, 0, 0, 0]), named: "no_\(field).npy", in: directory)
      expectFileFormatError("no_\(field).npy", "missing header field '\(field)'") { _ = try NPYArray(contentsOf: url) }
    }
  }

  @Test func invalidShape() throws {
    try Support.withScratchDirectory { directory in
      let url = try Support.write(
        npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 3), }"), named: "negative.npy", in: directory)
      expectFileFormatError("negative.npy", "invalid shape", "(-1, 3)") { _ = try NPYArray(contentsOf: url) }
    }
  }

  @Test func fortranOrder() {
    expectFileFormatError(
      "fortran_order.npy", "Fortran order is not supported; save with np.ascontiguousarray", "fortran_order"
    ) { _ = try NPYArray(contentsOf: Support.fixture("npy/fortran_order.npy")) }
  }

  @Test func bigEndian() {
    expectFileFormatError("big_endian.npy", "big-endian", "'>f4'") {
      _ = try NPYArray(contentsOf: Support.fixture("npy/big_endian.npy"))
    }
  }

  @Test(arguments: [
    ("complex64.npy", "'<c8'", "complex"), ("unicode.npy", "'<U3'", "Unicode strings"),
    ("object.npy", "'|O'", "Python objects"),
  ])
  func unsupportedDType(file: String, descr: String, kind: String) {
    expectFileFormatError(file, "unsupported dtype", descr, kind) {
      _ = try NPYArray(contentsOf: Support.fixture("npy/\(file)"))
    }
  }

  @Test func truncatedData() throws {
    try Support.withScratchDirectory { directory in
      let bytes = try Support.fixtureBytes("npy/v1_float32.npy").dropLast(5)
      let url = try Support.write(Array(bytes), named: "short_data.npy", in: directory)
      expectFileFormatError("short_data.npy", "data truncated", "48 bytes", "43 bytes") {
        _ = try NPYArray(contentsOf: url)
      }
    }
  }

  @Test func oversizedData() throws {
    try Support.withScratchDirectory { directory in
      let bytes = try Support.fixtureBytes("npy/v1_float32.npy") + [1, 2, 3]
      let url = try Support.write(bytes, named: "long_data.npy", in: directory)
      expectFileFormatError("long_data.npy", "extra bytes", "48 bytes", "51 bytes") { _ = try NPYArray(contentsOf: url) }
    }
  }

  @Test func nonFiniteWhenFinitenessIsRequired() {
    expectFileFormatError("nonfinite_float32.npy", "non-finite", "nan at flat index 2") {
      _ = try NPYArray(contentsOf: Support.fixture("npy/nonfinite_float32.npy")).floats(as: Double.self, requireFinite: true)
    }
  }

  @Test func nonIntegerToIntegers() {
    expectFileFormatError("fraction_float64.npy", "not an integer", "2.5 at flat index 2") {
      _ = try NPYArray(contentsOf: Support.fixture("npy/fraction_float64.npy")).integers()
    }
  }

  @Test func missingFile() {
    expectFileFormatError("does_not_exist.npy", "cannot open") {
      _ = try NPYArray(contentsOf: Support.fixture("npy/does_not_exist.npy"))
    }
  }
}
