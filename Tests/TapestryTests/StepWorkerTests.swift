import Foundation
import Synchronization
import Testing

@testable import Tapestry

/// What the parts of the test jobs write: one running sum per part.
private final class PartSums: Sendable {
  let first = Atomic<Int>(0)
  let second = Atomic<Int>(0)

  func add(_ value: Int, part: Int) {
    if part == 0 {
      first.add(value, ordering: .relaxed)
    } else {
      second.add(value, ordering: .relaxed)
    }
  }

  var values: (Int, Int) { (first.load(ordering: .relaxed), second.load(ordering: .relaxed)) }
}

@Suite struct StepWorkerTests {
  /// Each job adds its number to both parts' sums; when `run` returns both must be there (the
  /// barrier), over many jobs in a row, with pauses long enough for the worker to park.
  @Test func everyJobRunsBothPartsBeforeReturning() {
    let worker = Kernels.StepWorker()
    let sums = PartSums()
    var expected = 0
    for job in 1...20_000 {
      worker.run { part in sums.add(job, part: part) }
      expected += job
      let (first, second) = sums.values
      #expect(first == expected && second == expected, "job \(job)")
      if job.isMultiple(of: 5_000) {
        // Longer than the worker's spin: the next job has to wake it.
        Thread.sleep(forTimeInterval: 0.002)
      }
    }
  }

  /// The parts write disjoint halves of a buffer, as the harvest does; each job reads the whole
  /// result of the previous one.
  @Test func halvesSeeEachOthersResultsInTheNextJob() {
    let worker = Kernels.StepWorker()
    let count = 64
    let buffers = UnsafeMutableBufferPointer<Int>.allocate(capacity: 2 * count)
    defer { buffers.deallocate() }
    buffers.initialize(repeating: 0)
    nonisolated(unsafe) let (current, next) = (
      UnsafeMutableBufferPointer(rebasing: buffers[0..<count]),
      UnsafeMutableBufferPointer(rebasing: buffers[count...])
    )
    var reference = [Int](repeating: 0, count: count)
    for step in 0..<500 {
      let (from, to) = step.isMultiple(of: 2) ? (current, next) : (next, current)
      nonisolated(unsafe) let (source, destination) = (from, to)
      worker.run { part in
        for i in (part * count / 2)..<((part + 1) * count / 2) {
          destination[i] = source[(i + 1) % count] &+ source[i] &+ 1
        }
      }
      reference = (0..<count).map { reference[($0 + 1) % count] &+ reference[$0] &+ 1 }
      #expect(Array(to) == reference, "step \(step)")
    }
  }

  /// A second thread calling while the worker is in use runs both parts itself; the results are
  /// the same.
  @Test func concurrentCallersBothGetBothParts() async {
    let worker = Kernels.StepWorker()
    await withTaskGroup(of: Bool.self) { group in
      for _ in 0..<2 {
        group.addTask {
          let sums = PartSums()
          var expected = 0
          for job in 1...2_000 {
            worker.run { part in sums.add(job, part: part) }
            expected += job
          }
          return sums.values == (expected, expected)
        }
      }
      for await correct in group { #expect(correct) }
    }
  }

  /// A part calling `run` on the same worker (as a matrix product inside a harvest step would)
  /// gets both inner parts run on its own thread instead of waiting for the busy worker: no
  /// deadlock, on the caller's part or on the worker's.
  @Test func nestedCallsRunOnTheCallingThread() {
    let worker = Kernels.StepWorker()
    let outer = PartSums()
    let inner = PartSums()
    var expected = 0
    for job in 1...1_000 {
      worker.run { part in
        worker.run { innerPart in inner.add(job, part: innerPart) }
        outer.add(job, part: part)
      }
      expected += job
    }
    #expect(outer.values == (expected, expected))
    #expect(inner.values == (2 * expected, 2 * expected))
  }

  /// Dropping the last reference stops and joins the thread (the test would hang otherwise), and
  /// the thread keeps no reference to the worker.
  @Test func deinitStopsTheThread() {
    weak var dropped: Kernels.StepWorker?
    do {
      let worker = Kernels.StepWorker()
      dropped = worker
      let sums = PartSums()
      for job in 1...100 { worker.run { part in sums.add(job, part: part) } }
      #expect(sums.values == (5_050, 5_050))
    }
    #expect(dropped == nil)
  }
}
