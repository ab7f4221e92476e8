import CLMDB

/// How an environment is opened and how far its map may grow.
///
/// The map is address space, not disk: LMDB's file only grows as pages are used, so a generous initial map is cheap
/// and growth on `MDB_MAP_FULL` (which must pause every transaction in the process) stays rare.
public struct EnvironmentOptions: Sendable {
    /// The initial map size. An existing environment whose data is larger opens at its data size, then grows.
    public var mapSizeBytes: Int = 1 << 30
    /// How much to add on `MDB_MAP_FULL`. The map at least doubles, so a tiny map reaches a large write in a few
    /// retries rather than hundreds (each retry re-runs the whole write body).
    public var mapGrowthBytes: Int = 1 << 30
    /// The map never grows beyond this; past it `MDB_MAP_FULL` is thrown to the caller.
    public var mapSizeBytesMax: Int = 1 << 40
    /// Named databases the environment may hold (`mdb_env_set_maxdbs`).
    public var databasesMax: UInt32 = 32
    /// Concurrent read transactions across every process (`mdb_env_set_maxreaders`).
    public var readersMax: UInt32 = 1024
    /// `MDB_NOSYNC`: commits do not fsync. Only for rebuildable read-model environments: a crash may lose or corrupt
    /// the last transactions.
    public var noSync: Bool = false
    /// `MDB_NOMETASYNC`: the meta page is not synced on commit; a crash may undo the last transaction, never corrupt.
    public var noMetaSync: Bool = false
    /// Permissions of the data and lock files when created.
    public var fileMode: UInt32 = 0o600

    public init() {}
}

/// A handle on one database (a key space) inside one environment.
///
/// It remembers its environment so that using it with another one (the log and the read models live in two) is
/// caught by a precondition instead of silently reading another database that happens to share the number.
public struct Database: Sendable, Hashable {
    let dbi: MDB_dbi
    let environmentID: ObjectIdentifier

    init(dbi: MDB_dbi, environmentID: ObjectIdentifier) {
        self.dbi = dbi
        self.environmentID = environmentID
    }
}
