import Foundation
import LMDB
import LedgerCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The read models' own LMDB environment (`DATA/views`). It is rebuildable from the log, so it
/// commits without fsync (`MDB_NOSYNC`): its commits never wait on the disk or queue behind
/// the log's. A process crash loses nothing (the pages are in the OS cache); a machine crash
/// may, so a marker file records the boot the environment was last opened in, and a start
/// after a machine crash without a clean stop throws the views away and rebuilds them. The
/// `open` marker is on the disk (fsynced, and its directory) before the environment is opened.
///
/// Each projection has two databases, `NAME.0` and `NAME.1`: one active, the other the shadow
/// a rebuild fills. `meta` holds `active.NAME` (0 or 1) and `checkpoint.NAME` (the last seq
/// folded into the active one), written in the same transaction as the rows.
public final class ViewStore: @unchecked Sendable {
    public static let format: [UInt8] = Array("tokenledger-views-1".utf8)
    public let directory: String
    public let env: Environment
    let meta: Database
    let pairs: [ProjectionName: [Database]]
    /// Why the views started empty (a message for the log), or nil when they were kept.
    public private(set) var discarded: String?

    public init(directory: String, mapSizeBytes: Int = 1 << 30) throws {
        self.directory = directory
        let fm = FileManager.default
        let marker = directory + "/state"
        let boot = ViewStore.bootID()
        var discarded: String?
        if let text = try? String(contentsOfFile: marker, encoding: .utf8) {
            let parts = text.split(separator: " ").map(String.init)
            if parts.count == 2, parts[0] == "open", parts[1].trimmingCharacters(in: .whitespacesAndNewlines) != boot {
                discarded = "the machine restarted while the views were open (unsynced writes may be lost)"
            }
        } else if fm.fileExists(atPath: directory + "/data.mdb") {
            discarded = "the views have no state marker"
        }
        if discarded != nil { try? fm.removeItem(atPath: directory) }
        try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // Before any unsynced write: were `open` still in the page cache when the power went, the
        // marker could come back saying `clean` next to views whose last writes were torn.
        try ViewStore.writeMarker("open \(boot)\n", directory: directory)
        var options = EnvironmentOptions()
        options.mapSizeBytes = mapSizeBytes
        options.mapGrowthBytes = max(mapSizeBytes, 1 << 26)
        options.noSync = true
        let env: Environment
        do {
            env = try Environment(directory: directory, options: options)
        } catch {
            discarded = "the views could not be opened (\(error))"
            try? fm.removeItem(atPath: directory)
            try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try ViewStore.writeMarker("open \(boot)\n", directory: directory)
            env = try Environment(directory: directory, options: options)
        }
        self.env = env
        meta = try env.database("meta")
        var pairs: [ProjectionName: [Database]] = [:]
        for name in ProjectionName.allCases {
            pairs[name] = [try env.database("\(name.rawValue).0"), try env.database("\(name.rawValue).1")]
        }
        self.pairs = pairs
        let formatOK: Bool = try env.write { txn in
            if let f = try txn.get(meta, Array("format".utf8)) { return f == ViewStore.format }
            try txn.put(meta, Array("format".utf8), ViewStore.format)
            return true
        }
        if !formatOK {
            discarded = "the views hold another format"
            try env.write { txn in
                try txn.clear(meta)
                try txn.put(meta, Array("format".utf8), ViewStore.format)
                for pair in pairs.values { for db in pair { try txn.clear(db) } }
            }
        }
        self.discarded = discarded
    }

    /// Flushes to disk and marks the views clean (at a clean stop).
    public func closeClean() {
        do {
            try env.sync(force: true)
            try ViewStore.writeMarker("clean \(ViewStore.bootID())\n", directory: directory)
        } catch {}
    }

    /// Replaces `DIR/state` with `text` durably: a temporary file, fsync, rename over the marker,
    /// fsync of the directory (which makes the rename itself survive a power loss).
    static func writeMarker(_ text: String, directory: String) throws {
        let temporary = directory + "/state.tmp"
        let bytes = Array(text.utf8)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw MarkerError(step: "open \(temporary)", errno: errno) }
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = written == bytes.count && fsync(fd) == 0
        let failure = errno
        close(fd)
        guard synced else { throw MarkerError(step: "write and fsync \(temporary)", errno: failure) }
        guard rename(temporary, directory + "/state") == 0 else {
            throw MarkerError(step: "rename \(temporary)", errno: errno)
        }
        let dirFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dirFD >= 0 else { throw MarkerError(step: "open \(directory)", errno: errno) }
        defer { close(dirFD) }
        guard fsync(dirFD) == 0 else { throw MarkerError(step: "fsync \(directory)", errno: errno) }
    }

    struct MarkerError: Error, CustomStringConvertible {
        let step: String
        let errno: Int32
        var description: String { "views state marker: \(step): \(String(cString: strerror(errno)))" }
    }

    static func bootID() -> String {
        (try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "unknown"
    }

    static func activeKey(_ n: ProjectionName) -> [UInt8] { Array("active.\(n.rawValue)".utf8) }
    static func checkpointKey(_ n: ProjectionName) -> [UInt8] { Array("checkpoint.\(n.rawValue)".utf8) }

    /// The active database index and checkpoint of a projection.
    public func position(_ n: ProjectionName) throws -> (active: Int, checkpoint: UInt64) {
        try env.read { txn in try position(n, txn) }
    }

    func position(_ n: ProjectionName, _ txn: borrowing ReadTransaction) throws -> (active: Int, checkpoint: UInt64) {
        let a = try txn.get(meta, ViewStore.activeKey(n)).map { $0.first == 1 ? 1 : 0 } ?? 0
        let c = try txn.get(meta, ViewStore.checkpointKey(n)).map { $0.count == 8 ? BigEndian.uint64($0) : 0 } ?? 0
        return (a, c)
    }

    /// The active database of `n` as a read transaction sees it.
    func active(_ n: ProjectionName, _ txn: borrowing ReadTransaction) throws -> Database {
        pairs[n]![try position(n, txn).active]
    }

    func setPosition(_ n: ProjectionName, active: Int, checkpoint: UInt64, _ txn: inout WriteTransaction) throws {
        try txn.put(meta, ViewStore.activeKey(n), [UInt8(active)])
        try txn.put(meta, ViewStore.checkpointKey(n), BigEndian.bytes(checkpoint))
    }

    /// Empties both databases of `n` and sets its checkpoint to 0.
    public func reset(_ n: ProjectionName) throws {
        try env.write { txn in
            for db in pairs[n]! { try txn.clear(db) }
            try setPosition(n, active: 0, checkpoint: 0, &txn)
        }
    }
}
