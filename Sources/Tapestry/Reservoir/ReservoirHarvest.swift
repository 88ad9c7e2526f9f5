// The fast path of a reservoir: states for a whole sequence without the tape. Each step is one
// sparse matrix-vector product, the input drive, a vectorised tanh and the leaky update, over
// plain buffers; with two or more threads the rows are split between the caller and a persistent
// worker thread (the reservoir's rows are independent within a step). The arithmetic is that of
// `ReservoirCell.callAsFunction` in the same order, so both paths agree to rounding (the products
// sum in a different order).

#if canImport(Glibc)
  import Glibc
#endif

/// States harvested from a reservoir by ``ReservoirCell/harvest(_:initialState:washout:)``.
public struct ReservoirStates<Scalar: TensorScalar>: Sendable {
  /// The state after each step from `washout` on, `[T − washout, N]`: row r is x_{washout + r}.
  public let states: Tensor<Scalar>
  /// The state after the last step, `[N]`: where to continue the sequence from.
  public let finalState: Tensor<Scalar>
}

extension ReservoirCell {
  /// Runs the reservoir over a whole sequence without recording, returning the states after the
  /// washout; the same states as ``unroll(_:inputs:initialState:batchFirst:)`` with a batch of
  /// one, many times faster.
  ///
  /// - Parameters:
  ///   - inputs: `[T, inputSize]`, row t being `[uₜ, yₜ₋₁]` (teacher forcing supplies the
  ///     previous target as yₜ₋₁).
  ///   - initialState: x₋₁, `[N]`; zeros by default.
  ///   - washout: the number of initial states to discard (they still depend on the arbitrary
  ///     initial state); in `0..<T`.
  ///
  /// W is read as a ``SparseMatrix`` (zeros skipped), so a dense reservoir gives the same states,
  /// only slower. State noise is drawn as on the tape, while ``LearningPhase/training``. Traps,
  /// naming the shapes or values, on a wrong input or state shape or a washout outside `0..<T`.
  public func harvest(
    _ inputs: Tensor<Scalar>, initialState: Tensor<Scalar>? = nil, washout: Int = 0
  ) -> ReservoirStates<Scalar> {
    harvest(inputs, initialState: initialState, washout: washout, threads: ComputeSettings.threads)
  }

  /// ``harvest(_:initialState:washout:)`` on at most `threads` threads (at most 2 are used), so
  /// that tests can compare thread counts without setting the process-wide one.
  func harvest(
    _ inputs: Tensor<Scalar>, initialState: Tensor<Scalar>?, washout: Int, threads: Int
  ) -> ReservoirStates<Scalar> {
    precondition(
      inputs.rank == 2 && inputs.shape[1] == inputSize,
      "ReservoirCell.harvest: inputs shape \(inputs.shape) does not match [T, inputSize "
        + "\(inputSize)]")
    let steps = inputs.shape[0]
    precondition(
      washout >= 0 && washout < steps,
      "ReservoirCell.harvest: washout \(washout) is outside 0..<\(steps) (the sequence length)")
    if let initialState {
      precondition(
        initialState.shape == [hiddenSize],
        "ReservoirCell.harvest: initialState shape \(initialState.shape) does not match "
          + "[\(hiddenSize)]")
    }
    var state = initialState?.scalars ?? [Scalar](repeating: 0, count: hiddenSize)
    let kept = steps - washout
    let n = hiddenSize
    let noisy = stateNoise > 0 && LearningPhase.current == .training
    let kernel = stepKernel()
    let states = [Scalar](unsafeUninitializedCapacity: kept * n) { out, initialized in
      prefault(UnsafeMutableRawBufferPointer(out), threads: threads)
      // Written by both threads of a step, in disjoint ranges.
      nonisolated(unsafe) let out = out
      kernel.run(inputs.scalars, steps: steps, state: &state, noisy: noisy, threads: threads) {
        step, units, x in
        guard step >= washout else { return }
        let offset = (step - washout) * n
        for i in units { out[offset + i] = x[i] }
      }
      initialized = kept * n
    }
    return ReservoirStates(
      states: Tensor(shape: [kept, n], scalars: states), finalState: Tensor(state))
  }
}

/// Maps the pages of a freshly allocated `buffer` before the steps write it, in one system call
/// per thread (Linux's `MADV_POPULATE_WRITE`), instead of one page fault per 4 KiB page inside
/// the steps (10,000 faults for W5's 40 MB at N = 500, where each fault stalls both threads of a
/// step). With two threads, each maps half. Elsewhere, or below 1 MiB, or on a kernel without
/// the call (before 5.14), the pages fault in as they are written, as before.
private func prefault(_ buffer: UnsafeMutableRawBufferPointer, threads: Int) {
  #if canImport(Glibc)
    guard let base = buffer.baseAddress, buffer.count >= 1 << 20 else { return }
    let page = Int(sysconf(Int32(_SC_PAGESIZE)))
    let start = (Int(bitPattern: base) + page - 1) / page * page
    let end = (Int(bitPattern: base) + buffer.count) / page * page
    let half = start + (end - start) / (2 * page) * page
    let ranges = threads >= 2 ? [start..<half, half..<end] : [start..<end]
    // <sys/mman.h>'s MADV_POPULATE_WRITE, which the Glibc module does not export.
    let populateWrite: Int32 = 23
    let populate: @Sendable (Int) -> Void = { part in
      let range = ranges[part]
      _ = madvise(UnsafeMutableRawPointer(bitPattern: range.lowerBound), range.count, populateWrite)
    }
    if ranges.count == 2 {
      Kernels.StepWorker.shared.run(populate)
    } else {
      populate(0)
    }
  #endif
}

/// One reservoir's parameters as plain arrays, and the update written over raw buffers.
struct ReservoirStepKernel<Scalar: TensorScalar> {
  let matrix: SparseMatrix<Scalar>
  /// `[N, externalInputSize]`, row-major, rows in the order of ``rowOrder``.
  let inputWeight: [Scalar]
  /// `[N, feedbackSize]`, row-major, rows in the order of ``rowOrder`` (empty without feedback).
  let feedbackWeight: [Scalar]
  /// b, in the order of ``rowOrder``.
  let bias: [Scalar]
  /// The row at each position: SELL-8's length-sorted order, or the identity for CSR.
  let rowOrder: [Int32]
  /// The position of each row: the inverse of ``rowOrder``.
  let positions: [Int]
  let leakRate: Scalar
  let spectralScale: Scalar
  let inputScale: Scalar
  let externalInputSize: Int
  let feedbackSize: Int
  let stateNoise: Scalar
  let noise: GeneratorBox
  /// W in SELL-8 form, for Double reservoirs (the vectorised product needs 8 Double lanes).
  let ellpack: SlicedEllpackMatrix?

  /// The kernel for W (`matrix`, also as `ellpack` for Double), the row-major input and
  /// feedback weights and bias b of a cell, and its scalars.
  init(
    matrix: SparseMatrix<Scalar>, inputWeight: [Scalar], feedbackWeight: [Scalar],
    bias: [Scalar], leakRate: Scalar, spectralScale: Scalar, inputScale: Scalar,
    externalInputSize: Int, feedbackSize: Int, stateNoise: Scalar, noise: GeneratorBox,
    ellpack: SlicedEllpackMatrix?
  ) {
    let rowOrder = ellpack?.rowOrder ?? (0..<matrix.rows).map { Int32($0) }
    // Each row's weights at its position in `rowOrder`, so that the per-row work of a step reads
    // them in sequence instead of through the permutation; done once here, not per step, since a
    // free run calls `run` one step at a time.
    self.matrix = matrix
    self.inputWeight = rows(of: inputWeight, width: externalInputSize, order: rowOrder)
    self.feedbackWeight = rows(of: feedbackWeight, width: feedbackSize, order: rowOrder)
    self.bias = rows(of: bias, width: 1, order: rowOrder)
    self.rowOrder = rowOrder
    var positions = [Int](repeating: 0, count: rowOrder.count)
    for (k, row) in rowOrder.enumerated() { positions[Int(row)] = k }
    self.positions = positions
    self.leakRate = leakRate
    self.spectralScale = spectralScale
    self.inputScale = inputScale
    self.externalInputSize = externalInputSize
    self.feedbackSize = feedbackSize
    self.stateNoise = stateNoise
    self.noise = noise
    self.ellpack = ellpack
  }

  /// Below this many stored weights (~4 µs of gathers) a step is too short to pay for handing
  /// half of it to the worker thread.
  static var parallelThreshold: Int { 1 << 14 }

  /// The position splitting a step between ``Kernels/StepWorker``'s two parts, a multiple of 8
  /// (SELL-8's slices) that halves the work; nil when the step runs on one thread.
  func split(threads: Int) -> Int? {
    let n = matrix.rows
    guard threads >= 2, matrix.nonzeroCount >= Self.parallelThreshold, n >= 16 else { return nil }
    // The cost of the positions below each slice boundary: stored entries (slots of 8 for
    // SELL-8, which include the padding the product also pays for), plus about as much again per
    // row as 4 entries for the drive and tanh.
    let slices = (n + 7) / 8
    func cost(below slice: Int) -> Int {
      let rows = Swift.min(n, 8 * slice)
      let entries = ellpack.map { 8 * $0.sliceStarts[slice] } ?? matrix.rowStarts[rows]
      return entries + 4 * rows
    }
    let half = cost(below: slices) / 2
    var slice = 1
    while slice < slices - 1 && cost(below: slice) < half { slice += 1 }
    return 8 * slice
  }

  /// Runs `steps` steps over `inputs` (`steps` rows of `externalInputSize + feedbackSize`),
  /// updating `state` in place and calling `visit(t, units, xₜ)` for every step, where `units`
  /// are the units of xₜ (`[N]`, unit order) that this call may read; with `threads` ≥ 2 and a
  /// large enough W, each step's positions are split between the calling thread and
  /// ``Kernels/StepWorker/shared``.
  ///
  /// The state is carried in the order of ``rowOrder``, the order W's rows and columns are
  /// stored in; `visit` and `state` see it in unit order. Putting xₜ back into unit order and
  /// visiting it is done during step t + 1, by both threads for their halves of the units, so
  /// that a harvest's copying out (and the page faults of a fresh array) is not left to one
  /// thread; `visit` may therefore be called for disjoint ranges of one step at the same time.
  @_specialize(where Scalar == Double)
  @_specialize(where Scalar == Float)
  func run(
    _ inputs: [Scalar], steps: Int, state: inout [Scalar], noisy: Bool,
    threads: Int = ComputeSettings.threads,
    visit: @Sendable (Int, Range<Int>, UnsafeBufferPointer<Scalar>) -> Void = { _, _, _ in }
  ) {
    let n = matrix.rows
    let width = externalInputSize + feedbackSize
    let split = split(threads: threads)
    // The units each thread puts back into unit order: halves, at a multiple of 8 (a cache line).
    let unitSplit = Swift.min(n, 8 * ((n + 15) / 16))
    var current = rowOrder.map { state[Int($0)] }
    var next = [Scalar](repeating: 0, count: n)
    var scratch = [Scalar](repeating: 0, count: n)
    let positions = positions
    state.withUnsafeMutableBufferPointer { units in
      positions.withUnsafeBufferPointer { positions in
        rowOrder.withUnsafeBufferPointer { rowOrder in
          inputs.withUnsafeBufferPointer { inputs in
            matrix.withUnsafeStorage { storage in
              inputWeight.withUnsafeBufferPointer { inputWeight in
                feedbackWeight.withUnsafeBufferPointer { feedbackWeight in
                  bias.withUnsafeBufferPointer { bias in
                    let weights = StepWeights(
                      storage: storage, inputWeight: inputWeight, feedbackWeight: feedbackWeight,
                      bias: bias, leakRate: leakRate, spectralScale: spectralScale,
                      inputScale: inputScale, externalInputSize: externalInputSize,
                      feedbackSize: feedbackSize, ellpack: ellpack, rowOrder: rowOrder)
                    for step in 0..<steps {
                      let row = UnsafeBufferPointer(
                        rebasing: inputs[(step * width)..<((step + 1) * width)])
                      current.withUnsafeBufferPointer { x in
                        next.withUnsafeMutableBufferPointer { out in
                          scratch.withUnsafeMutableBufferPointer { scratch in
                            let buffers = StepBuffers(
                              state: x, input: row, next: out, scratch: scratch, units: units,
                              positions: positions)
                            let previous = step - 1
                            if let split {
                              // A barrier per step: `run` returns once both halves are written.
                              Kernels.StepWorker.shared.run { part in
                                if previous >= 0 {
                                  let range = part == 0 ? 0..<unitSplit : unitSplit..<n
                                  buffers.writeUnits(range)
                                  visit(previous, range, UnsafeBufferPointer(buffers.units))
                                }
                                weights.update(
                                  positions: part == 0 ? 0..<split : split..<n, buffers)
                              }
                            } else {
                              if previous >= 0 {
                                buffers.writeUnits(0..<n)
                                visit(previous, 0..<n, UnsafeBufferPointer(units))
                              }
                              weights.update(positions: 0..<n, buffers)
                            }
                          }
                        }
                      }
                      if noisy {
                        // Drawn in unit order, as on the tape.
                        noise.draw { generator in
                          for i in 0..<n {
                            let k = positions[i]
                            next[k] += Scalar(generator.nextStandardNormal()) * stateNoise
                          }
                        }
                      }
                      swap(&current, &next)
                    }
                  }
                }
              }
            }
          }
        }
      }
      // The last state, which no step after it puts back into unit order.
      guard steps > 0 else { return }
      for i in 0..<n { units[i] = current[positions[i]] }
      visit(steps - 1, 0..<n, UnsafeBufferPointer(units))
    }
  }
}

/// The rows of the row-major `values` (`width` per row) in the order `order`.
private func rows<Scalar>(of values: [Scalar], width: Int, order: [Int32]) -> [Scalar] {
  guard width > 0 else { return [] }
  var result: [Scalar] = []
  result.reserveCapacity(order.count * width)
  for row in order {
    let start = Int(row) * width
    result.append(contentsOf: values[start..<(start + width)])
  }
  return result
}

/// The buffers one step reads and writes; the threads of a step write disjoint rows of `next`.
struct StepBuffers<Scalar: TensorScalar>: @unchecked Sendable {
  /// xₜ₋₁, `[N]`, in the order of ``StepWeights/rowOrder``.
  let state: UnsafeBufferPointer<Scalar>
  /// `[uₜ, yₜ₋₁]`.
  let input: UnsafeBufferPointer<Scalar>
  /// xₜ, `[N]`, in the order of ``StepWeights/rowOrder``, written.
  let next: UnsafeMutableBufferPointer<Scalar>
  /// `[N]` pre-activations, in the order of ``StepWeights/rowOrder``.
  let scratch: UnsafeMutableBufferPointer<Scalar>
  /// xₜ₋₁, `[N]`, in unit order, written (each thread a range of units).
  let units: UnsafeMutableBufferPointer<Scalar>
  /// The position of each unit: the inverse of ``StepWeights/rowOrder``.
  let positions: UnsafeBufferPointer<Int>

  /// `units[i] = state[positions[i]]` for the units i in `range`.
  @inline(__always)
  func writeUnits(_ range: Range<Int>) {
    for i in range { units[i] = state[positions[i]] }
  }
}

/// The read-only weights and scalars of a step, shared by the threads.
struct StepWeights<Scalar: TensorScalar>: @unchecked Sendable {
  let storage: CSRStorage<Scalar>
  /// W_in's rows, in the order of ``rowOrder``.
  let inputWeight: UnsafeBufferPointer<Scalar>
  /// W_fb's rows, in the order of ``rowOrder``.
  let feedbackWeight: UnsafeBufferPointer<Scalar>
  /// b, in the order of ``rowOrder``.
  let bias: UnsafeBufferPointer<Scalar>
  let leakRate: Scalar
  let spectralScale: Scalar
  let inputScale: Scalar
  let externalInputSize: Int
  let feedbackSize: Int
  let ellpack: SlicedEllpackMatrix?
  /// The row at each position: SELL-8's length-sorted order, or the identity for CSR.
  let rowOrder: UnsafeBufferPointer<Int32>

  /// xₜ at `positions` (a range starting at a multiple of 8) of ``rowOrder``, row i at position k:
  /// `next[k] = (1 − α)·x[k] + α·tanh(ρ·(W·x)ᵢ + s·(W_in·u)ᵢ + bᵢ + (W_fb·y)ᵢ)`.
  @inline(__always)
  func update(positions: Range<Int>, _ buffers: StepBuffers<Scalar>) {
    let (x, input, out, scratch) = (buffers.state, buffers.input, buffers.next, buffers.scratch)
    let inputs = externalInputSize
    if let ellpack, Scalar.self == Double.self {
      ellpack.multiply(
        slices: (positions.lowerBound / 8)..<((positions.upperBound + 7) / 8),
        UnsafeBufferPointer(
          start: UnsafeRawPointer(x.baseAddress)?.assumingMemoryBound(to: Double.self),
          count: x.count),
        into: UnsafeMutableBufferPointer(
          start: UnsafeMutableRawPointer(scratch.baseAddress)?.assumingMemoryBound(
            to: Double.self),
          count: scratch.count))
    } else {
      // Without SELL-8 the order is the identity, so positions are rows and columns alike.
      for k in positions { scratch[k] = storage.rowDot(Int(rowOrder[k]), x) }
    }
    if inputs == 1 && feedbackSize == 0 {
      // The usual reservoir (one input, no feedback): the general loop's arithmetic, unrolled.
      let u = input[0]
      for k in positions {
        scratch[k] = scratch[k] * spectralScale + inputWeight[k] * u * inputScale + bias[k]
      }
    } else {
      for k in positions {
        var drive: Scalar = 0
        for j in 0..<inputs { drive += inputWeight[k * inputs + j] * input[j] }
        var pre = scratch[k] * spectralScale + drive * inputScale + bias[k]
        if feedbackSize > 0 {
          var feedback: Scalar = 0
          for j in 0..<feedbackSize {
            feedback += feedbackWeight[k * feedbackSize + j] * input[inputs + j]
          }
          pre = pre + feedback
        }
        scratch[k] = pre
      }
    }
    leakyTanh(positions, x, scratch, out)
  }

  /// `out[k] = (1 − α)·x[k] + α·tanh(pre[k])` for k in `positions`, a whole `Scalar.Vector` at a
  /// time (``Kernels/VectorMath``); the tail is padded, so each value is the same wherever it
  /// sits.
  @inline(__always)
  private func leakyTanh(
    _ positions: Range<Int>, _ x: UnsafeBufferPointer<Scalar>,
    _ pre: UnsafeMutableBufferPointer<Scalar>, _ out: UnsafeMutableBufferPointer<Scalar>
  ) {
    typealias Vector = Scalar.Vector
    let width = Vector.scalarCount
    let keep = Vector(repeating: 1 - leakRate)
    let rate = Vector(repeating: leakRate)
    let (states, pres, outs) = (
      UnsafeRawBufferPointer(x), UnsafeRawBufferPointer(pre), UnsafeMutableRawBufferPointer(out)
    )
    let stride = MemoryLayout<Scalar>.stride
    var k = positions.lowerBound
    while k + width <= positions.upperBound {
      let offset = k * stride
      let value =
        keep * states.loadUnaligned(fromByteOffset: offset, as: Vector.self) + rate
        * Kernels.VectorMath.tanh(pres.loadUnaligned(fromByteOffset: offset, as: Vector.self))
      outs.storeBytes(of: value, toByteOffset: offset, as: Vector.self)
      k += width
    }
    if k < positions.upperBound {
      var (lanes, previous) = (Vector(), Vector())
      for lane in 0..<(positions.upperBound - k) {
        lanes[lane] = pre[k + lane]
        previous[lane] = x[k + lane]
      }
      let value = keep * previous + rate * Kernels.VectorMath.tanh(lanes)
      for lane in 0..<(positions.upperBound - k) { out[k + lane] = value[lane] }
    }
  }
}
