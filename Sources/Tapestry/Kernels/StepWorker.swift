// A persistent second thread for loops of short parallel steps, such as a reservoir's harvest
// (10,100 steps of 5–70 µs each, where every step needs the whole previous state: a barrier per
// step) or the matrix products of a recurrent step (tens of microseconds each).
// `DispatchQueue.concurrentPerform` costs ~5–10 µs per call to wake and join its threads,
// as much as half a step is worth; a thread that stays awake between steps takes a job from an
// atomic counter instead (a cache-line handoff, well under a microsecond).

import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

extension Kernels {
  /// One long-lived background thread that runs part 1 of a two-part job while the caller runs
  /// part 0: ``run(_:)`` returns once both parts are done, so a loop of calls is a loop of
  /// barriers.
  ///
  /// Why not `concurrentPerform`: waking its threads and joining them costs ~5–10 µs per call,
  /// which is what two ~6 µs halves of a reservoir step saved; here the worker spins on an
  /// atomic for a while after each job, so the next one starts within about a microsecond.
  ///
  /// Under load it degrades to one thread rather than waiting: part 1 goes to whichever thread
  /// claims it first, so if the worker has not picked it up (descheduled, or parked) by the time
  /// the caller has finished part 0, the caller runs part 1 itself. The worker spins for at most
  /// ``spinNanoseconds`` after its last job (yielding its core every 64 spins, in case the
  /// scheduler has put it on the caller's) and then parks on a condition, so an idle process
  /// costs no processor time. Deinitialising stops and joins the thread.
  ///
  /// Measured on W5's harvest (two cores, Docs/Performance.md): N = 2,000 went from 1.7–2.0 s
  /// wall with `concurrentPerform` to 0.75–1.05 s; N = 500 from ~113 ms to ~102–112 ms.
  final class StepWorker: Sendable {
    /// The process-wide worker the kernels share (the harvest's steps, two-thread matrix
    /// products); ``run(_:)`` from a second thread while it is in use, or from inside one of its
    /// parts, runs both parts on that thread.
    static let shared = StepWorker()

    /// How long the worker spins for the next job before it parks: long enough to cover the
    /// caller's serial work between two steps (copying out a state: a few microseconds).
    static let spinNanoseconds: UInt64 = 50_000

    private let shared: WorkerState
    /// Set while a caller is inside ``run(_:)``: the worker serves one caller at a time.
    private let busy = Atomic<Bool>(false)

    /// Starts the thread (named "Tapestry.StepWorker"); it holds only the shared state, not the
    /// worker, so dropping the last reference to the worker stops it.
    init() {
      let state = WorkerState()
      shared = state
      let thread = Thread { state.serve() }
      thread.name = "Tapestry.StepWorker"
      thread.start()
    }

    deinit {
      shared.stop()
    }

    /// Runs `body(0)` on the calling thread and `body(1)` on the worker (or on the calling thread,
    /// when the worker has not claimed it by the time `body(0)` returns); returns once both have
    /// returned. The two calls may run at the same time, so they must touch disjoint memory.
    func run(_ body: @Sendable (Int) -> Void) {
      guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
      else {
        body(0)
        body(1)
        return
      }
      defer { busy.store(false, ordering: .releasing) }
      withoutActuallyEscaping(body) { body in shared.run(body) }
    }
  }
}

/// What the caller and the worker thread share.
///
/// `@unchecked Sendable` because of `job`, a plain stored closure: the caller writes it only
/// while no worker can read it (before publishing job k, which the worker reads with acquiring
/// order, and after job k's part 1 is claimed and finished), and the worker reads it only
/// between claiming part 1 of job k and publishing that it finished. Everything else is atomic
/// or a lock.
private final class WorkerState: @unchecked Sendable {
  /// The number of the last job published (jobs are numbered 1, 2, …).
  let posted = Atomic<Int>(0)
  /// The number of the last job whose part 1 was claimed, by the worker or by the caller.
  let claimed = Atomic<Int>(0)
  /// The number of the last job whose part 1 the worker finished.
  let finished = Atomic<Int>(0)
  /// Set (under `condition`'s lock) while the worker waits on `condition`.
  let parked = Atomic<Bool>(false)
  let stopping = Atomic<Bool>(false)
  let condition = NSCondition()
  /// Signalled by the thread as it leaves: the join.
  let exited = DispatchSemaphore(value: 0)
  /// The current job's body; see the type's comment for who may touch it when.
  nonisolated(unsafe) var job: (@Sendable (Int) -> Void)?

  /// Publishes `body` as the next job, runs part 0, then part 1 too unless the worker claimed it,
  /// and waits for the worker's part.
  func run(_ body: @escaping @Sendable (Int) -> Void) {
    job = body
    // Only the one caller in `StepWorker.run` writes `posted`.
    let number = posted.load(ordering: .relaxed) + 1
    // Sequentially consistent, with the worker's store to `parked` then load of `posted`: either
    // the worker sees this job before it waits, or this thread sees it parked and wakes it.
    posted.store(number, ordering: .sequentiallyConsistent)
    if parked.load(ordering: .sequentiallyConsistent) {
      condition.lock()
      condition.signal()
      condition.unlock()
    }
    body(0)
    if claimed.compareExchange(
      expected: number - 1, desired: number, ordering: .acquiringAndReleasing
    ).exchanged {
      body(1)
    } else {
      awaitFinished(number)
    }
    job = nil
  }

  /// Spins until the worker has finished part 1 of job `number`, then (if it takes longer than a
  /// short spin, e.g. the worker lost its core) yields the processor between checks.
  private func awaitFinished(_ number: Int) {
    var spins = 0
    while finished.load(ordering: .acquiring) != number {
      spins += 1
      if spins > 64 { sched_yield() }
    }
  }

  /// The worker thread's loop: waits for a job, claims and runs its part 1, until stopped.
  func serve() {
    var seen = 0
    while let number = nextJob(after: seen) {
      seen = number
      if claimed.compareExchange(
        expected: number - 1, desired: number, ordering: .acquiringAndReleasing
      ).exchanged {
        runPartOne()
        finished.store(number, ordering: .releasing)
      }
    }
    exited.signal()
  }

  /// Calls the job's part 1 in a frame of its own, so that the worker's reference to the closure
  /// is released before `finished` is published (`withoutActuallyEscaping` checks that nothing
  /// holds the closure when the caller's `run` returns).
  @inline(never)
  private func runPartOne() {
    job?(1)
  }

  /// The first job published after `seen`, or nil once stopping: spins for
  /// ``Kernels/StepWorker/spinNanoseconds``, then parks until woken.
  private func nextJob(after seen: Int) -> Int? {
    while true {
      let deadline = DispatchTime.now().uptimeNanoseconds + Kernels.StepWorker.spinNanoseconds
      var spins = 0
      while true {
        let number = posted.load(ordering: .acquiring)
        if number != seen { return number }
        if stopping.load(ordering: .relaxed) { return nil }
        spins += 1
        // Reading the clock costs ~20 ns; every 64th spin keeps that out of the handoff. The
        // yield hands the core over if another thread is waiting for it: when the machine is
        // busy the scheduler may put this thread on the caller's core, where a plain spin would
        // take half of the caller's time for 50 µs after every job.
        if spins & 63 == 0 {
          if DispatchTime.now().uptimeNanoseconds > deadline { break }
          sched_yield()
        }
      }
      condition.lock()
      parked.store(true, ordering: .sequentiallyConsistent)
      while posted.load(ordering: .sequentiallyConsistent) == seen
        && !stopping.load(ordering: .sequentiallyConsistent)
      {
        condition.wait()
      }
      parked.store(false, ordering: .relaxed)
      condition.unlock()
    }
  }

  /// Tells the thread to leave and waits until it has.
  func stop() {
    stopping.store(true, ordering: .sequentiallyConsistent)
    condition.lock()
    condition.signal()
    condition.unlock()
    exited.wait()
  }
}
