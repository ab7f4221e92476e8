/// The committed head seq, with a way to wait until it passes a seq. The writer publishes
/// after every commit; subscribers and projectors wait here instead of polling. Waiting
/// costs one continuation per waiter, never a copy of events.
public final class HeadWatch: Sendable {
    private struct Waiter {
        var id: UInt64
        var beyond: UInt64
        var continuation: CheckedContinuation<UInt64?, Never>
    }

    private struct State {
        var seq: UInt64
        var closed = false
        var nextID: UInt64 = 0
        var waiters: [Waiter] = []
    }

    private let state: Locked<State>

    public init(seq: UInt64) { state = Locked(State(seq: seq)) }

    public var seq: UInt64 { state.withLock { $0.seq } }

    /// Called by the writer after each commit.
    public func publish(_ seq: UInt64) {
        let ready: [Waiter] = state.withLock { s in
            guard seq > s.seq else { return [] }
            s.seq = seq
            let ready = s.waiters.filter { $0.beyond < seq }
            s.waiters.removeAll { $0.beyond < seq }
            return ready
        }
        for w in ready { w.continuation.resume(returning: seq) }
    }

    /// The writer stopped: every waiter gets `nil`, and so does every later wait.
    public func close() {
        let all: [Waiter] = state.withLock { s in
            s.closed = true
            defer { s.waiters.removeAll() }
            return s.waiters
        }
        for w in all { w.continuation.resume(returning: nil) }
    }

    /// Returns the head once it is beyond `seq` (at once when it already is); `nil` when the
    /// watch closed or the task was cancelled.
    public func wait(beyond seq: UInt64) async -> UInt64? {
        let id: UInt64 = state.withLock { s in
            s.nextID += 1
            return s.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<UInt64?, Never>) in
                let now: UInt64?? = state.withLock { s in
                    if s.closed { return .some(nil) }
                    if s.seq > seq { return .some(s.seq) }
                    if Task.isCancelled { return .some(nil) }
                    s.waiters.append(Waiter(id: id, beyond: seq, continuation: c))
                    return nil
                }
                if let now { c.resume(returning: now) }
            }
        } onCancel: {
            let w: Waiter? = state.withLock { s in
                guard let i = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return s.waiters.remove(at: i)
            }
            w?.continuation.resume(returning: nil)
        }
    }

    /// Waits at most `timeoutMs` for the head to pass `seq`; true when it did.
    public func wait(beyond seq: UInt64, timeoutMs: Int) async -> Bool {
        if self.seq > seq { return true }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask { await self.wait(beyond: seq) != nil }
            group.addTask {
                try? await Task.sleep(nanoseconds: UInt64(timeoutMs) * 1_000_000)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }
}
