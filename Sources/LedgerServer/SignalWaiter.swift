import Dispatch
import NIOPosix
import Synchronization

/// Process signals for the daemon: SIGPIPE ignored (a peer that goes away is a write error, not
/// a death), SIGTERM and SIGINT turned into a value to `await`.
public enum SignalWaiter {
    private struct Watch {
        var sources: [any DispatchSourceSignal] = []
        var received: Int32?
        var waiters: [CheckedContinuation<Int32, Never>] = []
    }

    private static let queue = DispatchQueue(label: "tokenledger.signals")
    private static let watches = Mutex<[[Int32]: Watch]>([:])

    /// Call first thing in `main`: ignores SIGPIPE and starts catching SIGTERM and SIGINT, so a
    /// signal that arrives while the daemon starts is remembered, not fatal midway.
    public static func installProcessSignalDefaults() {
        signal(SIGPIPE, SIG_IGN)
        self.watch([SIGTERM, SIGINT])
    }

    /// Returns the first SIGTERM or SIGINT (at once if one already came).
    public static func waitForTermination() async -> Int32 {
        await self.wait(for: [SIGTERM, SIGINT])
    }

    /// Returns the first of `signals` delivered since they were first watched. The signals stay
    /// caught (ignored by default action) for the life of the process.
    static func wait(for signals: [Int32]) async -> Int32 {
        self.watch(signals)
        return await withCheckedContinuation { continuation in
            let received: Int32? = self.watches.withLock { watches in
                if let received = watches[signals]?.received { return received }
                watches[signals]?.waiters.append(continuation)
                return nil
            }
            if let received { continuation.resume(returning: received) }
        }
    }

    /// Starts catching `signals` (idempotent).
    static func watch(_ signals: [Int32]) {
        self.watches.withLock { watches in
            guard watches[signals] == nil else { return }
            var watch = Watch()
            for number in signals {
                signal(number, SIG_IGN)  // the default action would kill before the source sees it
                let source = DispatchSource.makeSignalSource(signal: number, queue: self.queue)
                source.setEventHandler { self.deliver(number, to: signals) }
                source.resume()
                watch.sources.append(source)
            }
            watches[signals] = watch
        }
    }

    private static func deliver(_ number: Int32, to signals: [Int32]) {
        let waiters: [CheckedContinuation<Int32, Never>] = self.watches.withLock { watches in
            if watches[signals]?.received == nil { watches[signals]?.received = number }
            defer { watches[signals]?.waiters = [] }
            return watches[signals]?.waiters ?? []
        }
        let first = self.watches.withLock { $0[signals]?.received } ?? number
        for waiter in waiters { waiter.resume(returning: first) }
    }
}
