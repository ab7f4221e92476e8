#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A pthread mutex and condition variable at stable addresses.
///
/// pthread objects must not move once initialised, so they live in manually allocated memory rather than in Swift
/// stored properties. Foundation's locks would do, but this module keeps its dependencies to the C library and LMDB.
final class ConditionLock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        let mutexResult = pthread_mutex_init(mutex, nil)
        precondition(mutexResult == 0, "pthread_mutex_init failed: \(mutexResult)")
        let conditionResult = pthread_cond_init(condition, nil)
        precondition(conditionResult == 0, "pthread_cond_init failed: \(conditionResult)")
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deinitialize(count: 1)
        condition.deallocate()
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    func lock() {
        let result = pthread_mutex_lock(mutex)
        precondition(result == 0, "pthread_mutex_lock failed: \(result)")
    }

    func unlock() {
        let result = pthread_mutex_unlock(mutex)
        precondition(result == 0, "pthread_mutex_unlock failed: \(result)")
    }

    func withLock<R>(_ body: () throws -> R) rethrows -> R {
        lock()
        defer { unlock() }
        return try body()
    }

    /// Waits for a broadcast; the caller must hold the lock and re-check its condition afterwards (spurious wake-ups).
    func wait() {
        let result = pthread_cond_wait(condition, mutex)
        precondition(result == 0, "pthread_cond_wait failed: \(result)")
    }

    func broadcast() {
        pthread_cond_broadcast(condition)
    }
}

/// The growth lock: every transaction holds it shared, map growth and close hold it exclusive.
///
/// `mdb_env_set_mapsize` and `mdb_env_close` require that no transaction is open anywhere in the process, so they
/// wait until every shared holder has left and keep new ones out meanwhile (a waiting grower blocks new entries, so a
/// stream of overlapping short reads cannot starve it).
///
/// Holds are counted per thread. A thread that already holds the gate re-enters without waiting, so a `read` nested
/// inside another `read` or a `write` never deadlocks behind a waiting grower; and the gate can tell a thread that
/// wants to grow while it still holds a transaction (it would wait for itself forever) so the caller can refuse.
final class TransactionGate: @unchecked Sendable {
    private let lock = ConditionLock()
    /// Shared holds per thread; a thread is present only while it holds at least one.
    private var holds: [UInt: Int] = [:]
    private var growersWaiting = 0
    private var exclusiveHeld = false
    /// Threads inside `Environment.write` (waiting for LMDB's writer mutex or holding it): a second write transaction
    /// begun on a thread that already has one would deadlock on that mutex.
    private var writers: Set<UInt> = []
    private var closed = false

    private static var currentThread: UInt {
        #if canImport(Darwin)
            return UInt(bitPattern: pthread_self())
        #else
            return UInt(pthread_self())
        #endif
    }

    /// Enters shared; returns false when the environment is closed (the caller throws, nothing is held).
    func enterShared() -> Bool {
        let me = Self.currentThread
        lock.lock()
        defer { lock.unlock() }
        if let count = holds[me] {
            precondition(count > 0, "a thread is listed only while it holds the gate")
            holds[me] = count + 1
            return true
        }
        while !closed && (exclusiveHeld || growersWaiting > 0) {
            lock.wait()
        }
        if closed { return false }
        holds[me] = 1
        return true
    }

    func leaveShared() {
        let me = Self.currentThread
        lock.lock()
        defer { lock.unlock() }
        guard let count = holds[me] else {
            preconditionFailure("leaveShared without a matching enterShared on this thread")
        }
        if count == 1 {
            holds[me] = nil
            if holds.isEmpty { lock.broadcast() }
        } else {
            holds[me] = count - 1
        }
    }

    /// How many shared holds the calling thread has (0 when it holds none).
    var heldByCurrentThread: Int {
        let me = Self.currentThread
        return lock.withLock { holds[me] ?? 0 }
    }

    /// Marks the calling thread as the writer; false when it already is (a nested write).
    func beginWriting() -> Bool {
        let me = Self.currentThread
        return lock.withLock { writers.insert(me).inserted }
    }

    func endWriting() {
        let me = Self.currentThread
        lock.withLock {
            let removed = writers.remove(me)
            precondition(removed != nil, "endWriting without beginWriting on this thread")
        }
    }

    var isWritingOnCurrentThread: Bool {
        let me = Self.currentThread
        return lock.withLock { writers.contains(me) }
    }

    /// Enters exclusive: waits until no thread holds the gate. Returns false when closed meanwhile.
    ///
    /// - Precondition: the calling thread holds no shared hold (it would wait for itself).
    func enterExclusive() -> Bool {
        let me = Self.currentThread
        lock.lock()
        defer { lock.unlock() }
        precondition(holds[me] == nil, "exclusive entry while this thread holds a transaction would deadlock")
        growersWaiting += 1
        while !closed && (exclusiveHeld || !holds.isEmpty) {
            lock.wait()
        }
        growersWaiting -= 1
        if closed {
            lock.broadcast()
            return false
        }
        exclusiveHeld = true
        return true
    }

    /// Leaves exclusive; `close` marks the gate closed so that every later entry fails.
    func leaveExclusive(close: Bool = false) {
        lock.lock()
        defer { lock.unlock() }
        precondition(exclusiveHeld, "leaveExclusive without enterExclusive")
        exclusiveHeld = false
        if close { closed = true }
        lock.broadcast()
    }

    var isClosed: Bool {
        lock.withLock { closed }
    }
}
