import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

// Large arrays on transparent huge pages (issue 17). glibc maps every allocation of 32 MiB
// or more afresh and unmaps it when freed, so each one is first touched page by page: a
// KFAC input factor of 8,193² Float (the compare.py CNN's Linear layer, 268 MB) took
// 65,000 page faults per build, 30–40% of a type-2 KFAC build on a 2-core VM. Where the
// kernel's transparent huge pages are "madvise" (the usual default), such an array asks for
// 2 MiB pages before it is first written: 134 faults instead. (A 268 MB region touched
// once: 195 ms with 4 KiB pages, 37–47 ms with 2 MiB pages once the process has some.)
// Values are unaffected; only where the memory comes from changes.

extension NumericsBackend {
  /// Arrays of at least this many bytes ask for transparent huge pages: the size above
  /// which glibc always maps a fresh region (its largest mmap threshold).
  package static let hugePageThreshold = 32 << 20

  private static let hugePagesWanted = Atomic<Bool>(hugePagesDefault)

  /// On unless the environment variable `CURVATURE_HUGE_PAGES` is `0`.
  private static var hugePagesDefault: Bool {
    guard let value = getenv("CURVATURE_HUGE_PAGES") else { return true }
    return String(cString: value) != "0"
  }

  /// Whether new arrays of 32 MiB or more ask the kernel for transparent huge pages
  /// (`madvise(MADV_HUGEPAGE)` on Linux; nothing elsewhere) before they are first written.
  ///
  /// On by default: a large array is then backed by 2 MiB pages where the system allows it,
  /// which saves most of the page faults of its first touch (a KFAC factor of a wide
  /// Linear layer is rebuilt in fresh memory on every build). Set it to false, or set the
  /// environment variable `CURVATURE_HUGE_PAGES=0`, to leave the kernel's default. Results
  /// do not depend on it.
  public static var usesHugePages: Bool {
    get { hugePagesWanted.load(ordering: .relaxed) }
    set { hugePagesWanted.store(newValue, ordering: .relaxed) }
  }

  /// Asks for huge pages on the whole 2 MiB pages inside `buffer` when it is large enough
  /// and `usesHugePages` is on; the advice is only a hint, so failures are ignored.
  /// - Parameter buffer: Memory not yet written (or about to be overwritten entirely).
  package static func adviseHugePages(_ buffer: UnsafeMutableRawBufferPointer) {
    #if canImport(Glibc)
    guard buffer.count >= hugePageThreshold, usesHugePages, let base = buffer.baseAddress else { return }
    let page = 2 << 20
    let start = (UInt(bitPattern: base) + UInt(page - 1)) & ~UInt(page - 1)
    let end = (UInt(bitPattern: base) + UInt(buffer.count)) & ~UInt(page - 1)
    guard end > start, let aligned = UnsafeMutableRawPointer(bitPattern: start) else { return }
    _ = madvise(aligned, Int(end - start), MADV_HUGEPAGE)
    #endif
  }
}
