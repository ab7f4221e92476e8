import NIOConcurrencyHelpers

/// A value behind a lock, with the shape of `Synchronization.Mutex` (`withLock { value in … }`,
/// typed throws included), on NIO's pthread mutex.
///
/// Why not `Mutex`: on Linux it locks with futex calls that ThreadSanitizer does not model, so
/// TSan reported every pair of critical sections on different threads as a "Swift access race"
/// and `tools/sanitize thread` could never be clean. A pthread mutex TSan understands, so a
/// report from it is a real one. The cost is one allocation per lock, made once.
public final class Locked<Value> {
    @usableFromInline let lock = NIOLock()
    @usableFromInline var value: Value

    public init(_ value: Value) { self.value = value }

    /// Runs `body` with the value, holding the lock; `body` must not take the lock again.
    @inlinable
    public func withLock<Result, Failure: Error>(
        _ body: (inout Value) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

extension Locked: @unchecked Sendable where Value: Sendable {}
