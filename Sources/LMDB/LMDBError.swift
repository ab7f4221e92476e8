import CLMDB

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// An operating error from LMDB or the system, carried as its raw code so callers can match on it.
///
/// LMDB returns either one of its own `MDB_*` codes (all negative) or a plain `errno` (disk full, permissions, I/O).
/// Both are kept in one type because callers decide on the meaning (`mapFull` grows, `ENOSPC` answers "storage full"),
/// not on where the code came from. Equality is by code.
public struct LMDBError: Error, Equatable, Hashable, Sendable, CustomStringConvertible {
    /// The `MDB_*` code or errno value.
    public let code: Int32

    public init(code: Int32) {
        precondition(code != MDB_SUCCESS, "success is not an error")
        self.code = code
    }

    /// The symbolic name: `MDB_MAP_FULL`, `ENOSPC`, ... or `errno(N)` for a code without a known name.
    public var name: String {
        if let name = Self.mdbNames.first(where: { $0.code == code })?.name { return name }
        if let name = Self.errnoNames.first(where: { $0.code == code })?.name { return name }
        return "errno(\(code))"
    }

    /// The name followed by LMDB's text (which falls back to `strerror` for errno values).
    public var description: String {
        let text = String(cString: mdb_strerror(code))
        // LMDB's own texts already start with the name ("MDB_MAP_FULL: Environment mapsize limit reached").
        return text.hasPrefix(name + ": ") ? text : "\(name): \(text)"
    }

    /// Wraps a system error number; the name comes from the errno table (`ENOSPC`, `EACCES`, `EIO`, `ENOMEM`, ...).
    public static func errno(_ code: Int32) -> LMDBError {
        LMDBError(code: code)
    }

    /// key/data pair already exists; also an out-of-order `MDB_APPEND`.
    public static let keyExists = LMDBError(code: MDB_KEYEXIST)
    /// key/data pair not found. The wrapper turns it into `nil`/`false` where absence is an answer.
    public static let notFound = LMDBError(code: MDB_NOTFOUND)
    /// A page was not found: usually corruption.
    public static let pageNotFound = LMDBError(code: MDB_PAGE_NOTFOUND)
    /// A located page was the wrong type: corruption.
    public static let corrupted = LMDBError(code: MDB_CORRUPTED)
    /// A meta page update failed or the environment hit a fatal error: reopen it.
    public static let panic = LMDBError(code: MDB_PANIC)
    /// The environment was written by an incompatible LMDB version.
    public static let versionMismatch = LMDBError(code: MDB_VERSION_MISMATCH)
    /// The file is not an LMDB file.
    public static let invalid = LMDBError(code: MDB_INVALID)
    /// The map is full; `Environment.write` grows and retries, so callers see it only past `mapSizeBytesMax`.
    public static let mapFull = LMDBError(code: MDB_MAP_FULL)
    /// More named databases than `databasesMax`.
    public static let dbsFull = LMDBError(code: MDB_DBS_FULL)
    /// More concurrent read transactions than `readersMax`.
    public static let readersFull = LMDBError(code: MDB_READERS_FULL)
    /// Too many TLS keys (Windows only; listed so every code has a name).
    public static let tlsFull = LMDBError(code: MDB_TLS_FULL)
    /// The transaction dirtied too many pages.
    public static let txnFull = LMDBError(code: MDB_TXN_FULL)
    /// Cursor stack too deep: an LMDB internal error.
    public static let cursorFull = LMDBError(code: MDB_CURSOR_FULL)
    /// Page has not enough space: an LMDB internal error.
    public static let pageFull = LMDBError(code: MDB_PAGE_FULL)
    /// Another process grew the map beyond ours.
    public static let mapResized = LMDBError(code: MDB_MAP_RESIZED)
    /// The operation and the database flags disagree (or a database was recreated with other flags).
    public static let incompatible = LMDBError(code: MDB_INCOMPATIBLE)
    /// Invalid reuse of a reader lock-table slot.
    public static let badReaderSlot = LMDBError(code: MDB_BAD_RSLOT)
    /// The transaction must abort, has a child, or is invalid.
    public static let badTxn = LMDBError(code: MDB_BAD_TXN)
    /// Unsupported key or value size (an empty key, or a key longer than 511 bytes).
    public static let badValSize = LMDBError(code: MDB_BAD_VALSIZE)
    /// The database handle changed unexpectedly.
    public static let badDBI = LMDBError(code: MDB_BAD_DBI)

    /// Thrown by every operation on an environment after `close()`: the file descriptor is gone, hence `EBADF`.
    public static let environmentClosed = LMDBError.errno(EBADF)

    /// Every LMDB-specific code with its C name, in header order (tests check that none is missing).
    public static let allLMDBCodes: [LMDBError] = mdbNames.map { LMDBError(code: $0.code) }

    private static let mdbNames: [(code: Int32, name: String)] = [
        (MDB_KEYEXIST, "MDB_KEYEXIST"),
        (MDB_NOTFOUND, "MDB_NOTFOUND"),
        (MDB_PAGE_NOTFOUND, "MDB_PAGE_NOTFOUND"),
        (MDB_CORRUPTED, "MDB_CORRUPTED"),
        (MDB_PANIC, "MDB_PANIC"),
        (MDB_VERSION_MISMATCH, "MDB_VERSION_MISMATCH"),
        (MDB_INVALID, "MDB_INVALID"),
        (MDB_MAP_FULL, "MDB_MAP_FULL"),
        (MDB_DBS_FULL, "MDB_DBS_FULL"),
        (MDB_READERS_FULL, "MDB_READERS_FULL"),
        (MDB_TLS_FULL, "MDB_TLS_FULL"),
        (MDB_TXN_FULL, "MDB_TXN_FULL"),
        (MDB_CURSOR_FULL, "MDB_CURSOR_FULL"),
        (MDB_PAGE_FULL, "MDB_PAGE_FULL"),
        (MDB_MAP_RESIZED, "MDB_MAP_RESIZED"),
        (MDB_INCOMPATIBLE, "MDB_INCOMPATIBLE"),
        (MDB_BAD_RSLOT, "MDB_BAD_RSLOT"),
        (MDB_BAD_TXN, "MDB_BAD_TXN"),
        (MDB_BAD_VALSIZE, "MDB_BAD_VALSIZE"),
        (MDB_BAD_DBI, "MDB_BAD_DBI"),
    ]

    /// The errno values LMDB or the file system can plausibly return. A list, not a dictionary, because some names
    /// share a value on some platforms (`EAGAIN`/`EWOULDBLOCK`), and a duplicate dictionary key would trap.
    private static let errnoNames: [(code: Int32, name: String)] = [
        (EPERM, "EPERM"),
        (ENOENT, "ENOENT"),
        (EINTR, "EINTR"),
        (EIO, "EIO"),
        (ENXIO, "ENXIO"),
        (E2BIG, "E2BIG"),
        (EBADF, "EBADF"),
        (EAGAIN, "EAGAIN"),
        (ENOMEM, "ENOMEM"),
        (EACCES, "EACCES"),
        (EFAULT, "EFAULT"),
        (EBUSY, "EBUSY"),
        (EEXIST, "EEXIST"),
        (EXDEV, "EXDEV"),
        (ENODEV, "ENODEV"),
        (ENOTDIR, "ENOTDIR"),
        (EISDIR, "EISDIR"),
        (EINVAL, "EINVAL"),
        (ENFILE, "ENFILE"),
        (EMFILE, "EMFILE"),
        (ETXTBSY, "ETXTBSY"),
        (EFBIG, "EFBIG"),
        (ENOSPC, "ENOSPC"),
        (ESPIPE, "ESPIPE"),
        (EROFS, "EROFS"),
        (EMLINK, "EMLINK"),
        (EPIPE, "EPIPE"),
        (EDEADLK, "EDEADLK"),
        (ENAMETOOLONG, "ENAMETOOLONG"),
        (ENOLCK, "ENOLCK"),
        (ENOSYS, "ENOSYS"),
        (ENOTEMPTY, "ENOTEMPTY"),
        (ELOOP, "ELOOP"),
        (EOVERFLOW, "EOVERFLOW"),
        (ENOTSUP, "ENOTSUP"),
        (EDQUOT, "EDQUOT"),
        (ESTALE, "ESTALE"),
        (EOWNERDEAD, "EOWNERDEAD"),
        (ENOTRECOVERABLE, "ENOTRECOVERABLE"),
    ]
}

/// Throws the code unless it is `MDB_SUCCESS`.
@inline(__always)
func check(_ code: Int32) throws(LMDBError) {
    if code != MDB_SUCCESS { throw LMDBError(code: code) }
}
