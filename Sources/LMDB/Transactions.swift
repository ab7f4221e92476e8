import CLMDB

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A read-only snapshot, alive only inside `Environment.read`'s closure.
///
/// It is `~Copyable` and handed out `borrowing`, so it cannot be stored or escape the closure: the closure's end is
/// where the transaction aborts and its reader slot is released. Keep the closure short and synchronous; a snapshot
/// held open pins old pages (the file grows) and holds off map growth.
public struct ReadTransaction: ~Copyable {
    let pointer: OpaquePointer
    let environmentID: ObjectIdentifier

    init(pointer: OpaquePointer, environmentID: ObjectIdentifier) {
        self.pointer = pointer
        self.environmentID = environmentID
    }

    /// The value for `key`, copied out of the map, or nil when absent.
    public func get(_ db: Database, _ key: [UInt8]) throws -> [UInt8]? {
        try TransactionOperations.get(pointer, environmentID, db, key, state: nil)
    }

    /// Runs `body` with the value for `key` in place (nil when absent), without copying.
    ///
    /// The pointer aims into the memory map and is valid only inside `body`.
    public func withValue<R>(_ db: Database, _ key: [UInt8], _ body: (UnsafeRawBufferPointer?) throws -> R) throws -> R
    {
        try TransactionOperations.withValue(pointer, environmentID, db, key, state: nil, body)
    }

    /// Runs `body` with a cursor over `db`; the cursor is closed when `body` returns.
    public func withCursor<R>(_ db: Database, _ body: (inout Cursor) throws -> R) throws -> R {
        try TransactionOperations.withCursor(pointer, environmentID, db, state: nil, body)
    }

    /// The number of entries in `db` (`mdb_stat`), without scanning.
    public func count(_ db: Database) throws -> Int {
        try TransactionOperations.count(pointer, environmentID, db)
    }
}

/// The write transaction, alive only inside `Environment.write`'s closure.
///
/// There is no commit or abort here on purpose: `Environment.write` commits once after the closure returns and aborts
/// when it throws, so a transaction can neither leak nor be committed twice. On `MDB_MAP_FULL` the closure is run again
/// from the start in a fresh transaction, so it must be re-runnable: compute its writes from what it reads, and move
/// side effects outside it.
public struct WriteTransaction: ~Copyable {
    let pointer: OpaquePointer
    let environmentID: ObjectIdentifier
    let state: WriteState

    init(pointer: OpaquePointer, environmentID: ObjectIdentifier, state: WriteState) {
        self.pointer = pointer
        self.environmentID = environmentID
        self.state = state
    }

    /// The value for `key`, including this transaction's own uncommitted writes, or nil when absent.
    public func get(_ db: Database, _ key: [UInt8]) throws -> [UInt8]? {
        try TransactionOperations.get(pointer, environmentID, db, key, state: state)
    }

    /// Runs `body` with the value for `key` in place (nil when absent). The pointer is valid only inside `body` and
    /// must not be read after a write in this transaction (LMDB may move the page).
    public func withValue<R>(_ db: Database, _ key: [UInt8], _ body: (UnsafeRawBufferPointer?) throws -> R) throws -> R
    {
        try TransactionOperations.withValue(pointer, environmentID, db, key, state: state, body)
    }

    /// Stores `value` under `key`.
    ///
    /// - Parameters:
    ///   - append: `MDB_APPEND`: the key must sort after every key in `db`. It skips the search (fast bulk load) and
    ///     doubles as a check that a log keyed by big-endian sequence numbers only grows: a key that is not greater
    ///     than the last one throws `.keyExists`.
    ///   - noOverwrite: `MDB_NOOVERWRITE`: throws `.keyExists` instead of replacing an existing value.
    /// - Throws: `.keyExists` as above (the transaction stays usable), `.badValSize` for an empty key or one longer than
    ///   511 bytes. `MDB_MAP_FULL` is thrown too, but `Environment.write` then grows the map and re-runs the closure,
    ///   whatever the closure did with the error.
    public func put(_ db: Database, _ key: [UInt8], _ value: [UInt8], append: Bool = false, noOverwrite: Bool = false)
        throws
    {
        try key.withUnsafeBytes { k in
            try value.withUnsafeBytes { v in try put(db, key: k, value: v, append: append, noOverwrite: noOverwrite) }
        }
    }

    /// `put` with the key and value lent as raw bytes (built on the stack, say): no arrays.
    public func put(
        _ db: Database, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, append: Bool = false,
        noOverwrite: Bool = false
    ) throws {
        precondition(db.environmentID == environmentID, "database handle from another environment")
        var flags: UInt32 = 0
        if append { flags |= UInt32(MDB_APPEND) }
        if noOverwrite { flags |= UInt32(MDB_NOOVERWRITE) }
        let code = withMDBVal(key) { keyVal in
            withMDBVal(value) { valueVal in
                mdb_put(pointer, db.dbi, &keyVal, &valueVal, flags)
            }
        }
        try state.check(code)
    }

    /// Stores a value of `count` bytes under `key` that `fill` writes straight into the map
    /// (`MDB_RESERVE`): the value is never assembled elsewhere first. `fill` must write every byte,
    /// and must not touch the transaction. `append` as in `put`.
    public func put(
        _ db: Database, key: UnsafeRawBufferPointer, reserving count: Int, append: Bool = false,
        _ fill: (UnsafeMutableRawBufferPointer) -> Void
    ) throws {
        precondition(db.environmentID == environmentID, "database handle from another environment")
        precondition(count > 0, "a reserved value has bytes")
        var flags = UInt32(MDB_RESERVE)
        if append { flags |= UInt32(MDB_APPEND) }
        var valueVal = MDB_val(mv_size: count, mv_data: nil)
        let code = withMDBVal(key) { keyVal in
            mdb_put(pointer, db.dbi, &keyVal, &valueVal, flags)
        }
        try state.check(code)
        precondition(valueVal.mv_size == count && valueVal.mv_data != nil, "MDB_RESERVE gave the space asked for")
        fill(UnsafeMutableRawBufferPointer(start: valueVal.mv_data, count: count))
    }

    /// Deletes `key`; false when it was absent.
    public func delete(_ db: Database, _ key: [UInt8]) throws -> Bool {
        precondition(db.environmentID == environmentID, "database handle from another environment")
        let code = withMDBVal(key) { keyVal in
            mdb_del(pointer, db.dbi, &keyVal, nil)
        }
        if code == MDB_NOTFOUND { return false }
        try state.check(code)
        return true
    }

    /// Deletes every entry of `db` and keeps the database (`mdb_drop(dbi, 0)`), e.g. to rebuild a read model.
    public func clear(_ db: Database) throws {
        precondition(db.environmentID == environmentID, "database handle from another environment")
        try state.check(mdb_drop(pointer, db.dbi, 0))
    }

    /// Runs `body` with a cursor over `db` (which may `deleteCurrent`); the cursor is closed when `body` returns.
    public func withCursor<R>(_ db: Database, _ body: (inout Cursor) throws -> R) throws -> R {
        try TransactionOperations.withCursor(pointer, environmentID, db, state: state, body)
    }

    /// The number of entries in `db`, including this transaction's writes.
    public func count(_ db: Database) throws -> Int {
        try TransactionOperations.count(pointer, environmentID, db)
    }
}

/// What a write transaction has been through, seen by `Environment.write` after the closure returns.
///
/// Errors are recorded here as well as thrown because the closure may catch and swallow them. `MDB_MAP_FULL` must still
/// lead to growth and a re-run, and an error that left LMDB's transaction unusable must not be followed by a commit
/// (it would fail with `MDB_BAD_TXN` and wrongly mark the environment as needing a reopen).
final class WriteState {
    private(set) var mapFull = false
    /// The first error that left the transaction unusable, if any.
    private(set) var poison: LMDBError?

    /// Codes after which LMDB leaves the transaction usable: they answer the operation, not the transaction.
    private static let harmlessCodes: Set<Int32> = [MDB_KEYEXIST, MDB_NOTFOUND, MDB_BAD_VALSIZE, EINVAL]

    func check(_ code: Int32) throws {
        guard code != MDB_SUCCESS else { return }
        if code == MDB_MAP_FULL {
            mapFull = true
        } else if poison == nil && !Self.harmlessCodes.contains(code) {
            poison = LMDBError(code: code)
        }
        throw LMDBError(code: code)
    }
}

/// The work common to read and write transactions, on the raw `MDB_txn`.
enum TransactionOperations {
    static func get(
        _ txn: OpaquePointer,
        _ environmentID: ObjectIdentifier,
        _ db: Database,
        _ key: [UInt8],
        state: WriteState?
    ) throws -> [UInt8]? {
        try withValue(txn, environmentID, db, key, state: state) { value in
            value.map { Array($0) }
        }
    }

    static func withValue<R>(
        _ txn: OpaquePointer,
        _ environmentID: ObjectIdentifier,
        _ db: Database,
        _ key: [UInt8],
        state: WriteState?,
        _ body: (UnsafeRawBufferPointer?) throws -> R
    ) throws -> R {
        precondition(db.environmentID == environmentID, "database handle from another environment")
        var value = MDB_val()
        let code = withMDBVal(key) { keyVal in
            mdb_get(txn, db.dbi, &keyVal, &value)
        }
        if code == MDB_NOTFOUND { return try body(nil) }
        if let state { try state.check(code) } else { try check(code) }
        return try body(UnsafeRawBufferPointer(value))
    }

    static func withCursor<R>(
        _ txn: OpaquePointer,
        _ environmentID: ObjectIdentifier,
        _ db: Database,
        state: WriteState?,
        _ body: (inout Cursor) throws -> R
    ) throws -> R {
        precondition(db.environmentID == environmentID, "database handle from another environment")
        var raw: OpaquePointer?
        let code = mdb_cursor_open(txn, db.dbi, &raw)
        if let state { try state.check(code) } else { try check(code) }
        guard let raw else { preconditionFailure("mdb_cursor_open succeeded without a cursor") }
        var cursor = Cursor(pointer: raw, state: state)
        // Closed before the transaction ends: write cursors must be, and read cursors under MDB_NOTLS are not freed
        // by the abort.
        defer { mdb_cursor_close(cursor.pointer) }
        return try body(&cursor)
    }

    static func count(_ txn: OpaquePointer, _ environmentID: ObjectIdentifier, _ db: Database) throws -> Int {
        precondition(db.environmentID == environmentID, "database handle from another environment")
        var stat = MDB_stat()
        try check(mdb_stat(txn, db.dbi, &stat))
        return stat.ms_entries
    }
}

/// Lends raw bytes to LMDB as an `MDB_val` for the duration of `body` (empty bytes: see the array form below).
func withMDBVal<R>(_ raw: UnsafeRawBufferPointer, _ body: (inout MDB_val) throws -> R) rethrows -> R {
    if let base = raw.baseAddress, raw.count > 0 {
        var val = MDB_val(mv_size: raw.count, mv_data: UnsafeMutableRawPointer(mutating: base))
        return try body(&val)
    }
    var placeholder: UInt8 = 0
    return try withUnsafeMutablePointer(to: &placeholder) { pointer in
        var val = MDB_val(mv_size: 0, mv_data: UnsafeMutableRawPointer(pointer))
        return try body(&val)
    }
}

/// Lends `bytes` to LMDB as an `MDB_val` for the duration of `body`.
///
/// An empty array may have no storage; LMDB is then given the address of a local byte with size 0 rather than a null
/// pointer, so that copying "zero bytes from null" never reaches `memcpy`.
func withMDBVal<R>(_ bytes: [UInt8], _ body: (inout MDB_val) throws -> R) rethrows -> R {
    try bytes.withUnsafeBytes { raw in try withMDBVal(raw, body) }
}

extension UnsafeRawBufferPointer {
    /// Views an `MDB_val` that LMDB filled in: memory inside the map, valid until the next operation that may move it.
    init(_ val: MDB_val) {
        self.init(start: UnsafeRawPointer(val.mv_data), count: val.mv_size)
    }
}
