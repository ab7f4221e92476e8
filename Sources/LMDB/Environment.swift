import CLMDB

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// One LMDB environment (a directory with `data.mdb` and `lock.mdb`) and everything that must be coordinated across
/// its transactions in this process: map growth, database handles, close.
///
/// Transactions exist only inside `read` and `write` closures, so none can leak past its scope. Each one holds the
/// growth lock shared; growing the map and closing hold it exclusive, because LMDB allows neither while any
/// transaction of the process is open. Readers must therefore keep their closures short (never across an `await` or a
/// socket write), or growth waits for them.
///
/// Opened with `MDB_NOTLS`, so a read transaction is not tied to its thread's TLS slot (Swift tasks hop threads), and
/// `MDB_NORDAHEAD`, since random access to a map larger than RAM gains nothing from read-ahead.
public final class Environment: @unchecked Sendable {
    /// Set once at init, cleared only by `close()` under the exclusive lock; every other use holds the lock shared,
    /// which is what makes the unsynchronised reads of this property safe.
    private var handle: OpaquePointer?
    private let options: EnvironmentOptions
    private let gate = TransactionGate()
    /// Guards `databases` and `suspect`; held only briefly, never across a transaction.
    private let stateLock = ConditionLock()
    /// Serialises database opening: LMDB forbids `mdb_dbi_open` from two transactions at once. Separate from
    /// `stateLock` so that a cached lookup inside a write closure never waits behind an open waiting for the writer.
    private let openLock = ConditionLock()
    private var databases: [String?: (database: Database, integerKeys: Bool)] = [:]
    private var suspect = false
    private let osPageSize: Int

    /// True after a commit failed with anything but `MDB_MAP_FULL` (or LMDB reported `MDB_PANIC`): the environment
    /// may no longer match the disk, so the owner should close it and open it again before trusting further writes.
    public var needsReopen: Bool {
        stateLock.withLock { suspect }
    }

    /// Opens (creating if needed) the environment in `directory`, which must exist.
    ///
    /// Runs `mdb_reader_check` once, clearing reader slots left by processes that died while reading, since those would
    /// pin pages forever.
    ///
    /// - Throws: `ENOENT` if the directory is missing, `EACCES`, `.invalid` or `.versionMismatch` for a foreign file,
    ///   `EAGAIN`/`EBUSY` style errors if the lock file cannot be set up.
    public init(directory: String, options: EnvironmentOptions = .init()) throws {
        precondition(options.mapSizeBytes > 0, "mapSizeBytes must be positive")
        precondition(options.mapGrowthBytes > 0, "mapGrowthBytes must be positive")
        precondition(options.mapSizeBytesMax >= options.mapSizeBytes, "mapSizeBytesMax below mapSizeBytes")
        precondition(options.databasesMax > 0 && options.readersMax > 0, "databasesMax and readersMax must be positive")
        self.options = options
        self.osPageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        precondition(osPageSize > 0, "sysconf(_SC_PAGESIZE) failed")

        var created: OpaquePointer?
        try check(mdb_env_create(&created))
        guard let env = created else { preconditionFailure("mdb_env_create succeeded without an environment") }
        do {
            try check(mdb_env_set_maxdbs(env, MDB_dbi(options.databasesMax)))
            try check(mdb_env_set_maxreaders(env, options.readersMax))
            try check(mdb_env_set_mapsize(env, Self.roundUp(options.mapSizeBytes, to: osPageSize)))
            var flags = UInt32(MDB_NOTLS) | UInt32(MDB_NORDAHEAD)
            if options.noSync { flags |= UInt32(MDB_NOSYNC) }
            if options.noMetaSync { flags |= UInt32(MDB_NOMETASYNC) }
            try check(mdb_env_open(env, directory, flags, mdb_mode_t(options.fileMode)))
            var staleReaders: Int32 = 0
            try check(mdb_reader_check(env, &staleReaders))
        } catch {
            // The handle must be closed even when mdb_env_open failed.
            mdb_env_close(env)
            throw error
        }
        self.handle = env
    }

    deinit {
        close()
    }

    // MARK: - Databases

    /// The handle of the named database (`nil`: the unnamed main database), opened once and then cached by name.
    ///
    /// Opening runs in its own write transaction (so a new database is committed and visible to every later
    /// transaction). Open databases at start-up, outside any `read`/`write` closure of this environment: inside a
    /// `write` the open would deadlock on LMDB's writer mutex, inside a `read` it could deadlock against a map growth
    /// waiting for that read, so a precondition refuses both. A cached handle may be fetched anywhere.
    ///
    /// - Parameters:
    ///   - create: create the database if it does not exist; when false a missing one throws `.notFound`.
    ///   - integerKeys: `MDB_INTEGERKEY`: keys are native-endian `UInt32`/`UInt64` compared as numbers.
    /// - Throws: `.dbsFull` past `databasesMax`, `.incompatible` when the flags disagree with the stored database.
    public func database(_ name: String?, create: Bool = true, integerKeys: Bool = false) throws -> Database {
        if let cached = try cachedDatabase(name, integerKeys: integerKeys) { return cached }
        precondition(gate.heldByCurrentThread == 0, "opening a database inside a read or write closure may deadlock")
        openLock.lock()
        defer { openLock.unlock() }
        if let cached = try cachedDatabase(name, integerKeys: integerKeys) { return cached }

        var flags: UInt32 = 0
        if create { flags |= UInt32(MDB_CREATE) }
        if integerKeys { flags |= UInt32(MDB_INTEGERKEY) }
        let dbi = try write { transaction in
            var dbi: MDB_dbi = 0
            try transaction.state.check(mdb_dbi_open(transaction.pointer, name, flags, &dbi))
            return dbi
        }
        let database = Database(dbi: dbi, environmentID: ObjectIdentifier(self))
        stateLock.withLock { databases[name] = (database, integerKeys) }
        return database
    }

    private func cachedDatabase(_ name: String?, integerKeys: Bool) throws -> Database? {
        let cached = stateLock.withLock { databases[name] }
        guard let cached else {
            if gate.isClosed { throw LMDBError.environmentClosed }
            return nil
        }
        precondition(cached.integerKeys == integerKeys, "database \(name ?? "<main>") reopened with other key flags")
        return cached.database
    }

    // MARK: - Transactions

    /// Runs `body` in a read-only snapshot and ends it when `body` returns or throws.
    ///
    /// Reads never block on the writer. They wait only while the map grows. Nesting a `read` (or a `write`) inside a
    /// `read` on the same thread is allowed.
    ///
    /// - Throws: `.readersFull` past `readersMax` concurrent readers, `environmentClosed` after `close()`, and
    ///   whatever `body` throws.
    public func read<R>(_ body: (borrowing ReadTransaction) throws -> R) throws -> R {
        let txn = try openTransaction(flags: UInt32(MDB_RDONLY))
        defer { gate.leaveShared() }
        // A read transaction has nothing to commit; aborting releases its reader slot.
        defer { mdb_txn_abort(txn) }
        let transaction = ReadTransaction(pointer: txn, environmentID: ObjectIdentifier(self))
        return try body(transaction)
    }

    /// Runs `body` in a write transaction and commits it once when `body` returns; aborts and rethrows when it throws.
    ///
    /// On `MDB_MAP_FULL`, from any operation in `body` (even one whose error `body` caught) or from the commit, the
    /// transaction is dropped, the map grows by `mapGrowthBytes` (at least doubling) while no transaction is open in
    /// the process, and `body` runs again from the start in a fresh transaction. `body` must therefore be
    /// re-runnable: it may read and write the database and compute, but must not have effects outside it that
    /// cannot happen twice. Growth stops at `mapSizeBytesMax`, past which `.mapFull` is thrown.
    ///
    /// Blocking (LMDB's writer mutex, fsync on commit), hence `noasync`: one writer thread should own all writes.
    ///
    /// - Precondition: not nested in another `write` on the same thread (LMDB's writer mutex would deadlock).
    /// - Throws: what `body` throws; an error `body` swallowed that left the transaction unusable; a commit error (then
    ///   `needsReopen` becomes true); `.mapFull` past the maximum, or when nested in a `read` on the same thread
    ///   (the map cannot grow while this thread holds a snapshot).
    @available(*, noasync)
    public func write<R>(_ body: (inout WriteTransaction) throws -> R) throws -> R {
        let began = gate.beginWriting()
        precondition(began, "write nested in another write on the same thread would deadlock")
        defer { gate.endWriting() }
        while true {
            switch try attemptWrite(body) {
            case .committed(let value):
                return value
            case .mapFull(let observedMapSize):
                try growAfterMapFull(observedMapSize: observedMapSize)
            }
        }
    }

    private enum WriteOutcome<R> {
        case committed(R)
        /// The map was full at this size; grow past it and run the body again.
        case mapFull(observedMapSize: Int)
    }

    private func attemptWrite<R>(_ body: (inout WriteTransaction) throws -> R) throws -> WriteOutcome<R> {
        let txn = try openTransaction(flags: 0)
        defer { gate.leaveShared() }
        // Stable while we hold the gate shared: only exclusive holders change the map size.
        let observedMapSize = environmentInfo().me_mapsize
        let state = WriteState()
        var transaction = WriteTransaction(pointer: txn, environmentID: ObjectIdentifier(self), state: state)
        let value: R
        do {
            value = try body(&transaction)
        } catch {
            mdb_txn_abort(txn)
            if state.mapFull { return .mapFull(observedMapSize: observedMapSize) }
            throw error
        }
        _ = consume transaction
        if state.mapFull {
            mdb_txn_abort(txn)
            return .mapFull(observedMapSize: observedMapSize)
        }
        if let poison = state.poison {
            mdb_txn_abort(txn)
            throw poison
        }
        // mdb_txn_commit frees the transaction whether or not it succeeds: no abort after this line.
        let code = mdb_txn_commit(txn)
        if code == MDB_MAP_FULL { return .mapFull(observedMapSize: observedMapSize) }
        if code != MDB_SUCCESS {
            markSuspect()
            throw LMDBError(code: code)
        }
        return .committed(value)
    }

    /// Enters the gate shared and begins a transaction. On success the gate is held (the caller leaves it after ending
    /// the transaction); on failure it is not.
    ///
    /// `MDB_MAP_RESIZED` means another process grew the map past ours: adopt its size (`mdb_env_set_mapsize(0)`)
    /// under the exclusive lock and begin again. That is impossible while this thread holds another transaction of
    /// this environment, so then the error is thrown.
    private func openTransaction(flags: UInt32) throws -> OpaquePointer {
        var attempts = 0
        while true {
            try enterShared()
            var txn: OpaquePointer?
            let code = mdb_txn_begin(handle, nil, flags, &txn)
            if code == MDB_SUCCESS, let txn { return txn }
            let nested = gate.heldByCurrentThread > 1
            gate.leaveShared()
            if code == MDB_PANIC { markSuspect() }
            attempts += 1
            guard code == MDB_MAP_RESIZED, !nested, attempts < 3 else { throw LMDBError(code: code) }
            try withExclusive { env in try check(mdb_env_set_mapsize(env, 0)) }
        }
    }

    // MARK: - Map growth

    /// Grows the map after `MDB_MAP_FULL` at `observedMapSize`, unless another thread already did.
    private func growAfterMapFull(observedMapSize: Int) throws {
        // This thread still holding a snapshot (write nested in read) would wait for itself.
        guard gate.heldByCurrentThread == 0 else { throw LMDBError.mapFull }
        try withExclusive { env in
            var info = MDB_envinfo()
            try check(mdb_env_info(env, &info))
            let current = info.me_mapsize
            guard current == observedMapSize else { return }
            let target = nextMapSize(after: current)
            guard target > current else { throw LMDBError.mapFull }
            try check(mdb_env_set_mapsize(env, target))
        }
    }

    /// The size after one growth step: `mapGrowthBytes` more, at least double, page-aligned, at most the maximum.
    func nextMapSize(after current: Int) -> Int {
        let limit = max(options.mapSizeBytesMax / osPageSize * osPageSize, current)
        let added = current.addingReportingOverflow(options.mapGrowthBytes)
        let doubled = current.multipliedReportingOverflow(by: 2)
        let grown = max(
            added.overflow ? Int.max : added.partialValue, doubled.overflow ? Int.max : doubled.partialValue)
        let target = min(grown, limit)
        let aligned = target / osPageSize * osPageSize
        return aligned > current ? aligned : current
    }

    /// Sets the map size to `toBytes` (rounded up to the OS page size), waiting until no transaction is open.
    ///
    /// LMDB keeps the map at least as large as the data, so a smaller value shrinks it only down to that.
    ///
    /// - Precondition: the calling thread is not inside a `read` or `write` closure of this environment.
    public func growMap(toBytes: Int) throws {
        precondition(toBytes > 0, "map size must be positive")
        let target = Self.roundUp(toBytes, to: osPageSize)
        try withExclusive { env in try check(mdb_env_set_mapsize(env, target)) }
    }

    // MARK: - Maintenance

    /// Runs `mdb_reader_check`: frees reader slots of processes that died while reading. Returns how many.
    public func readerCheck() throws -> Int {
        try withShared { env in
            var stale: Int32 = 0
            try check(mdb_reader_check(env, &stale))
            return Int(stale)
        }
    }

    /// Map size, bytes in use (pages up to the last one written), page size and last committed transaction id, for
    /// `stats`. All zero after `close()`.
    public var stat: (mapSizeBytes: Int, usedBytes: Int, pageSize: Int, lastTxnID: Int) {
        let result = try? withShared { env in
            var info = MDB_envinfo()
            try check(mdb_env_info(env, &info))
            var stat = MDB_stat()
            try check(mdb_env_stat(env, &stat))
            let pageSize = Int(stat.ms_psize)
            return (
                mapSizeBytes: info.me_mapsize,
                usedBytes: (info.me_last_pgno + 1) * pageSize,
                pageSize: pageSize,
                lastTxnID: info.me_last_txnid
            )
        }
        return result ?? (mapSizeBytes: 0, usedBytes: 0, pageSize: 0, lastTxnID: 0)
    }

    /// Writes a consistent copy of the environment to `data.mdb` in `toDirectory` (which must exist and hold no
    /// `data.mdb`) while writers go on. `compact` drops free pages and renumbers, giving a smaller file.
    ///
    /// - Precondition: not called from inside a `write` closure on the same thread (the copy takes LMDB's writer mutex
    ///   briefly).
    public func copy(toDirectory: String, compact: Bool) throws {
        precondition(!gate.isWritingOnCurrentThread, "copy inside a write closure would deadlock")
        try withShared { env in
            try check(mdb_env_copy2(env, toDirectory, compact ? UInt32(MDB_CP_COMPACT) : 0))
        }
    }

    /// Flushes to disk; needed only with `noSync`/`noMetaSync`. `force` syncs even under `MDB_NOSYNC`.
    public func sync(force: Bool) throws {
        try withShared { env in try check(mdb_env_sync(env, force ? 1 : 0)) }
    }

    /// Closes the environment after every open transaction has ended; later calls throw `environmentClosed`.
    /// Idempotent, and run by `deinit`.
    ///
    /// - Precondition: not called from inside a `read` or `write` closure of this environment.
    public func close() {
        guard gate.enterExclusive() else { return }
        if let env = handle { mdb_env_close(env) }
        handle = nil
        stateLock.withLock { databases.removeAll() }
        gate.leaveExclusive(close: true)
    }

    // MARK: - Helpers

    private func enterShared() throws {
        guard gate.enterShared() else { throw LMDBError.environmentClosed }
        precondition(handle != nil, "an open gate implies an open environment")
    }

    private func withShared<R>(_ body: (OpaquePointer) throws -> R) throws -> R {
        try enterShared()
        defer { gate.leaveShared() }
        guard let env = handle else { preconditionFailure("an open gate implies an open environment") }
        return try body(env)
    }

    private func withExclusive<R>(_ body: (OpaquePointer) throws -> R) throws -> R {
        guard gate.enterExclusive() else { throw LMDBError.environmentClosed }
        defer { gate.leaveExclusive() }
        guard let env = handle else { preconditionFailure("an open gate implies an open environment") }
        return try body(env)
    }

    /// `mdb_env_info` for a caller holding the gate; it cannot fail on an open environment.
    private func environmentInfo() -> MDB_envinfo {
        var info = MDB_envinfo()
        let code = mdb_env_info(handle, &info)
        precondition(code == MDB_SUCCESS, "mdb_env_info failed on an open environment: \(code)")
        return info
    }

    private func markSuspect() {
        stateLock.withLock { suspect = true }
    }

    private static func roundUp(_ value: Int, to multiple: Int) -> Int {
        let (sum, overflow) = value.addingReportingOverflow(multiple - 1)
        return overflow ? Int.max / multiple * multiple : sum / multiple * multiple
    }
}
