#if canImport(Glibc)
  import Glibc
#endif

/// Keeps the memory of freed tensors inside the process, so that the next training step's
/// tensors reuse it instead of asking the kernel for fresh pages.
///
/// A training step allocates the same large buffers every time (an LSTM's `[T, B, 4H]` gate
/// pre-activations, their gradients) and frees them when its tape goes. glibc serves blocks above
/// its mmap threshold (128 KiB to start with) with `mmap` and returns them with `munmap`, and
/// gives the top of the heap back above its trim threshold, so every step page-faulted on fresh,
/// zeroed pages: a profile of W1 LSTM M spent ~20% of its time in the kernel's page-fault and
/// unmapping paths. Raising both thresholds makes glibc keep and reuse that memory, as PyTorch's
/// caching allocator does for its tensors: W1 LSTM M 1.2–1.5× faster and GRU M 1.3–1.5× faster
/// (processor time, same binary with and without). Resident memory then stays at the peak of a
/// step rather than falling between steps; it still does not grow from step to step.
///
/// Applied once, the first time a large buffer is made (`Kernels.array`). The setting is
/// process-wide; other platforms' allocators already cache freed blocks, so it is glibc only.
@usableFromInline
internal enum FreedMemoryReuse {
  /// Whether the allocator was told to keep freed memory (false where there is nothing to tell).
  @usableFromInline
  static let isEnabled: Bool = {
    #if canImport(Glibc)
      // `mallopt` is declared in <malloc.h>, which the Glibc module does not import; it is looked
      // up by name instead. The option numbers are <malloc.h>'s.
      typealias MallocOption = @convention(c) (Int32, Int32) -> Int32
      guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else {
        return false
      }
      let mallopt = unsafeBitCast(symbol, to: MallocOption.self)
      let trimThreshold: Int32 = -1
      let mmapThreshold: Int32 = -3
      // 32 MiB is the largest mmap threshold glibc accepts on 64-bit systems; blocks above it
      // (the `[T, B, 4H]` tensors of a large model) still map and unmap, at a cost that their own
      // work then dwarfs.
      let mapped = mallopt(mmapThreshold, 32 << 20) == 1
      let trimmed = mallopt(trimThreshold, 1 << 30) == 1
      return mapped && trimmed
    #else
      return false
    #endif
  }()
}
