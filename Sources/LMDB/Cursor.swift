import CLMDB

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A position in one database, alive only inside a transaction's `withCursor` closure.
///
/// Every move returns the entry it lands on, or nil past either end. The returned buffers point into the memory map
/// without copying: they are valid only until the next call on this cursor and never after the transaction ends, so
/// copy out (`Array(key)`, `BigEndian.uint64(key)`) what must outlive the step.
public struct Cursor: ~Copyable {
    public typealias Entry = (key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)

    let pointer: OpaquePointer
    /// The write transaction's state, or nil for a read cursor (which may not delete).
    let state: WriteState?

    init(pointer: OpaquePointer, state: WriteState?) {
        self.pointer = pointer
        self.state = state
    }

    /// The first entry (smallest key).
    public mutating func first() throws -> Entry? {
        try move(MDB_FIRST)
    }

    /// The last entry (largest key): for a log keyed by big-endian sequence numbers, its head.
    public mutating func last() throws -> Entry? {
        try move(MDB_LAST)
    }

    /// The entry after the current one; on a cursor not yet positioned, the first.
    public mutating func next() throws -> Entry? {
        try move(MDB_NEXT)
    }

    /// The entry before the current one; on a cursor not yet positioned, the last.
    public mutating func prev() throws -> Entry? {
        try move(MDB_PREV)
    }

    /// The first entry whose key is greater than or equal to `key` (`MDB_SET_RANGE`): where a reader resumes from
    /// its own sequence number.
    public mutating func seek(atLeast key: [UInt8]) throws -> Entry? {
        try withMDBVal(key) { keyVal in
            try move(MDB_SET_RANGE, key: &keyVal)
        }
    }

    /// The entry under the cursor, or nil when it is not positioned on one.
    public mutating func current() throws -> Entry? {
        do {
            return try move(MDB_GET_CURRENT)
        } catch let error as LMDBError where error.code == EINVAL {
            // LMDB's answer for a cursor that was never positioned.
            return nil
        }
    }

    /// Deletes the entry under the cursor; a following `next()` returns the entry after it.
    ///
    /// - Throws: `EACCES` on a read cursor; `EINVAL` when the cursor is not positioned on an entry.
    public mutating func deleteCurrent() throws {
        guard let state else { throw LMDBError.errno(EACCES) }
        try state.check(mdb_cursor_del(pointer, 0))
    }

    private mutating func move(_ op: MDB_cursor_op) throws -> Entry? {
        var key = MDB_val()
        return try move(op, key: &key)
    }

    private mutating func move(_ op: MDB_cursor_op, key: inout MDB_val) throws -> Entry? {
        var value = MDB_val()
        let code = mdb_cursor_get(pointer, &key, &value, op)
        if code == MDB_NOTFOUND { return nil }
        if let state { try state.check(code) } else { try check(code) }
        return (key: UnsafeRawBufferPointer(key), value: UnsafeRawBufferPointer(value))
    }
}
