import CurvatureNumerics
import CurvatureAutodiff

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// Finds a key that occurs twice in one object of a JSON text.
///
/// Foundation's `JSONDecoder` keeps the first of two equal keys and `JSONSerialization`
/// the last (as Python's `json` does), and neither reports them, so the same file could
/// mean two different things to two readers. This scan runs after `JSONDecoder` has
/// accepted the text, so it only needs to find where strings and objects begin and end:
/// it does not parse numbers or literals, and it leaves the unescaping of keys to
/// `JSONDecoder` (so `"a"` and `"\u0061"` are the same key).
enum JSONDuplicateKeys {
  /// The first key that repeats within its object, with the byte offset of its second
  /// occurrence; nil when every object's keys are distinct.
  /// - Parameter text: JSON text that `JSONDecoder` accepts.
  /// - Complexity: O(`text.count`), and one decode per escaped key.
  static func first(in text: [UInt8]) -> (key: String, offset: Int)? {
    // One entry per open container: the keys seen so far in an object, nil for an array.
    var open: [Set<String>?] = []
    var i = 0
    while i < text.count {
      switch text[i] {
      case UInt8(ascii: "{"): open.append([])
      case UInt8(ascii: "["): open.append(nil)
      case UInt8(ascii: "}"), UInt8(ascii: "]"): _ = open.popLast()
      case UInt8(ascii: "\""):
        let start = i
        var escaped = false
        i += 1
        while i < text.count, text[i] != UInt8(ascii: "\"") {
          if text[i] == UInt8(ascii: "\\") { escaped = true; i += 1 }
          i += 1
        }
        var next = i + 1
        while next < text.count, [0x20, 0x09, 0x0A, 0x0D].contains(text[next]) { next += 1 }
        // A string followed by a colon, directly inside an object, is a key.
        if next < text.count, text[next] == UInt8(ascii: ":"), i < text.count, let last = open.indices.last, open[last] != nil {
          let literal = text[start...i]
          let key =
            escaped
            ? (try? JSONDecoder().decode(String.self, from: Data(literal))) ?? String(decoding: literal, as: UTF8.self)
            : String(decoding: literal.dropFirst().dropLast(), as: UTF8.self)
          if open[last]?.insert(key).inserted == false { return (key, start) }
        }
      default: break
      }
      i += 1
    }
    return nil
  }
}
