import Dispatch
import NIOPosix
import Synchronization

/// Process signals for the daemon: SIGPIPE ignored (a peer that goes away is a write error, not
/// a death), SIGTERM and SIGINT turned into a value to `await`.
///
/// On Linux, libdispatch catches a signal source's signal by installing its own handler when the
/// source is registered, which happens later, on its manager thread. Until then the signal is set
/// to SIG_IGN (so it cannot kill the process midway), and `watch` waits for that registration, so
/// a signal sent after it returns is never lost.
public enum SignalWaiter {
    private struct Watch {
        var sources: [any DispatchSourceSignal] = []
        var registered = DispatchGroup()
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
    /// caught for the life of the process.
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

    /// Starts catching `signals` (idempotent) and returns once libdispatch catches them.
    static func watch(_ signals: [Int32]) {
        let registered: DispatchGroup = self.watches.withLock { watches in
            if let watch = watches[signals] { return watch.registered }
            var watch = Watch()
            for number in signals {
                self.ignoreUnlessHandled(number)
                let source = DispatchSource.makeSignalSource(signal: number, queue: self.queue)
                watch.registered.enter()
                source.setRegistrationHandler { [registered = watch.registered] in registered.leave() }
                source.setEventHandler { self.deliver(number, to: signals) }
                source.resume()
                watch.sources.append(source)
            }
            watches[signals] = watch
            return watch.registered
        }
        // Registration is quick (the manager thread); the bound only keeps a broken libdispatch from hanging us.
        _ = registered.wait(timeout: .now() + .seconds(5))
    }

    /// SIG_IGN where the default action would kill the process; a handler already installed
    /// (libdispatch's own, for another source of the same signal) is left in place.
    private static func ignoreUnlessHandled(_ number: Int32) {
        var current = sigaction()
        guard sigaction(number, nil, &current) == 0 else { return }
        if current.__sigaction_handler.sa_handler == nil {  // SIG_DFL
            signal(number, SIG_IGN)
        }
    }

    private static func deliver(_ number: Int32, to signals: [Int32]) {
        let (first, waiters): (Int32, [CheckedContinuation<Int32, Never>]) = self.watches.withLock { watches in
            if watches[signals]?.received == nil { watches[signals]?.received = number }
            let waiters = watches[signals]?.waiters ?? []
            watches[signals]?.waiters = []
            return (watches[signals]?.received ?? number, waiters)
        }
        for waiter in waiters { waiter.resume(returning: first) }
    }
}
