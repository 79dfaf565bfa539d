/// A canonical Huffman code of DEFLATE (RFC 1951 §3.2.2) prepared for decoding.
///
/// Codes of up to `fastBits` bits decode with one lookup in `fast`, indexed by the next
/// `fastBits` input bits (DEFLATE packs codes most-significant bit first, so the table is
/// indexed by bit-reversed codes). Longer codes, which are rare, are found by comparing
/// the bit-reversed next 16 bits with the largest code of each length.
struct HuffmanTable: Sendable {
  /// Bits resolved by one lookup in `fast`.
  static let fastBits = 10
  static let fastMask: UInt64 = (1 << fastBits) - 1

  /// `length << 9 | symbol` for every `fastBits`-bit input pattern that starts with a code
  /// of at most `fastBits` bits; 0 otherwise.
  private(set) var fast = [UInt16](repeating: 0, count: 1 << fastBits)
  /// Per code length: the first canonical code.
  private(set) var firstCode = [Int](repeating: 0, count: 17)
  /// Per code length: the index in `sortedSymbols` of the first symbol of that length.
  private(set) var firstIndex = [Int](repeating: 0, count: 17)
  /// Per code length `l`: one past the last code of that length, left-aligned to 16 bits.
  private(set) var limit = [Int](repeating: 0, count: 18)
  /// The symbols in canonical order, and the length of each.
  private(set) var sortedSymbols = [UInt16](repeating: 0, count: 288)
  private(set) var sortedLengths = [UInt8](repeating: 0, count: 288)
  /// The number of symbols with a code.
  private(set) var codedCount = 0

  /// An empty table (every lookup fails until `build` succeeds).
  init() {}

  /// A table built from code lengths, which must be valid (for the fixed codes).
  init(lengths: [UInt8]) {
    let built = build(lengths[...])
    precondition(built, "HuffmanTable: invalid fixed code lengths")
  }

  /// Rebuilds the table for the symbols `0..<lengths.count` with the given code lengths
  /// (0 = unused, at most 15).
  /// - Returns: `false` when the lengths are over-subscribed (more codes of some length
  ///   than the code space allows) or a length exceeds 15. Incomplete codes are accepted;
  ///   their unused patterns fail to decode.
  mutating func build(_ lengths: ArraySlice<UInt8>) -> Bool {
    guard lengths.count <= sortedSymbols.count else { return false }
    var counts = [Int](repeating: 0, count: 16)
    for length in lengths {
      guard length <= 15 else { return false }
      counts[Int(length)] += 1
    }
    counts[0] = 0
    for i in fast.indices { fast[i] = 0 }
    var nextCode = [Int](repeating: 0, count: 16)
    var code = 0
    var index = 0
    for length in 1..<16 {
      nextCode[length] = code
      firstCode[length] = code
      firstIndex[length] = index
      code += counts[length]
      if counts[length] != 0 && code - 1 >= 1 << length { return false }
      limit[length] = code << (16 - length)
      code <<= 1
      index += counts[length]
    }
    limit[16] = 0x10000
    limit[17] = 0x10000
    codedCount = index
    for (symbol, length) in zip(0..., lengths) where length != 0 {
      let length = Int(length)
      let position = nextCode[length] - firstCode[length] + firstIndex[length]
      sortedSymbols[position] = UInt16(symbol)
      sortedLengths[position] = UInt8(length)
      if length <= HuffmanTable.fastBits {
        var pattern = HuffmanTable.reversed16(nextCode[length]) >> (16 - length)
        let entry = UInt16(length << 9 | symbol)
        while pattern < 1 << HuffmanTable.fastBits {
          fast[pattern] = entry
          pattern += 1 << length
        }
      }
      nextCode[length] += 1
    }
    return true
  }

  /// Looks up the code at the start of `bits` (least-significant bit first).
  /// - Returns: `(symbol, length)`, or `nil` when `bits` start with no valid code.
  @inline(__always)
  func lookup(_ bits: UInt64) -> (symbol: Int, length: Int)? {
    let entry = Int(fast[Int(bits & HuffmanTable.fastMask)])
    if entry != 0 { return (entry & 0x1FF, entry >> 9) }
    return slowLookup(bits)
  }

  private func slowLookup(_ bits: UInt64) -> (symbol: Int, length: Int)? {
    let code = HuffmanTable.reversed16(Int(bits & 0xFFFF))
    var length = HuffmanTable.fastBits + 1
    while code >= limit[length] { length += 1 }
    guard length < 16 else { return nil }
    let position = (code >> (16 - length)) - firstCode[length] + firstIndex[length]
    guard position >= 0, position < codedCount, Int(sortedLengths[position]) == length else { return nil }
    return (Int(sortedSymbols[position]), length)
  }

  /// The 16-bit value with its bits in reverse order.
  @inline(__always)
  static func reversed16(_ value: Int) -> Int {
    var n = value & 0xFFFF
    n = ((n & 0xAAAA) >> 1) | ((n & 0x5555) << 1)
    n = ((n & 0xCCCC) >> 2) | ((n & 0x3333) << 2)
    n = ((n & 0xF0F0) >> 4) | ((n & 0x0F0F) << 4)
    return ((n & 0xFF00) >> 8) | ((n & 0x00FF) << 8)
  }

  /// The fixed literal/length code of block type 1.
  static let fixedLiteral = HuffmanTable(
    lengths: [UInt8](repeating: 8, count: 144) + [UInt8](repeating: 9, count: 112)
      + [UInt8](repeating: 7, count: 24) + [UInt8](repeating: 8, count: 8))
  /// The fixed distance code of block type 1 (32 five-bit codes; 30 and 31 are invalid).
  static let fixedDistance = HuffmanTable(lengths: [UInt8](repeating: 5, count: 32))
}
