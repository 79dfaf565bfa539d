import Foundation
import Testing

/// The directory snapshot of `CLI.expectFailure` ("files were written, changed or left
/// behind") holds what a file holds, not its holes: the 8 GiB sparse weights of
/// CLIMemoryLimitTests read 16 GiB of zeros into the test process before (its peak RSS was
/// 16.9 GB), and still sees any change to the file.
@Suite struct CLISnapshotTests {
  @Test func sparseFilesCostWhatTheyHoldAndChangesShow() throws {
    let directory = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let url = directory.appendingPathComponent("huge.bin")
    try Data([1, 2, 3]).write(to: url)
    let handle = try FileHandle(forWritingTo: url)
    try handle.truncate(atOffset: 1 << 33)
    try handle.close()
    let before = try CLI.snapshot(directory)
    let file = try #require(before["huge.bin"])
    #expect(file.size == 1 << 33)
    #expect(file.segments.values.reduce(0) { $0 + $1.count } < 1 << 20, "\(file.segments.mapValues(\.count))")
    #expect(file.segments[0]?.prefix(3) == Data([1, 2, 3]))
    #expect(try CLI.snapshot(directory) == before)

    // A zero byte written into the hole, a changed byte, a new file: each shows.
    let writer = try FileHandle(forWritingTo: url)
    try writer.seek(toOffset: 1 << 32)
    try writer.write(contentsOf: Data([0]))
    try writer.close()
    #expect(try CLI.snapshot(directory) != before)
    let zeroWritten = try CLI.snapshot(directory)
    let changer = try FileHandle(forWritingTo: url)
    try changer.seek(toOffset: 1)
    try changer.write(contentsOf: Data([9]))
    try changer.close()
    #expect(try CLI.snapshot(directory) != zeroWritten)
    let changed = try CLI.snapshot(directory)
    try Data().write(to: directory.appendingPathComponent("new"))
    #expect(try CLI.snapshot(directory) != changed)
  }
}
