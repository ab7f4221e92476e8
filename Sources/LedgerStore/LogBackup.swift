import Foundation
import LMDB
import LedgerCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What a finished backup holds and what it cost.
public struct BackupReport: Sendable {
    /// The directory now holding `data.mdb`.
    public var destination: String
    /// The head of the copied log: a daemon started on the backup answers `verify` with these.
    public var seq: UInt64
    public var headHash: [UInt8]
    /// Size of the copied `data.mdb`.
    public var bytes: Int
    /// Size of the live log's used pages when the copy began, for the compaction ratio.
    public var logBytes: Int
    public var seconds: Double
}

public enum BackupError: Error, CustomStringConvertible, Sendable {
    /// The destination cannot take a backup (relative, not empty, no parent, not writable);
    /// nothing was written. The caller's mistake: `bad_request`.
    case destination(String)
    /// The copy failed on the way (disk full, I/O error); its partial files were removed.
    case failed(String)
    /// Another backup is running; one at a time.
    case busy(String)

    public var description: String {
        switch self {
        case .destination(let m), .failed(let m), .busy(let m): m
        }
    }
}

/// `backup {dest}`: a consistent, compacted hot copy of the log environment (`data.mdb`) while
/// the writer goes on.
///
/// LMDB's compacting copy (`mdb_env_copy2` with `MDB_CP_COMPACT`) reads one snapshot, so the
/// copy is a whole committed prefix of the log, whatever is appended meanwhile. It is written
/// under a hidden temporary name beside `dest`, synced, opened once to read its head, then
/// renamed to `dest` and the parent directory synced: a `dest` that exists is a whole backup.
///
/// Only the log is copied. It is the truth; the read models (`DATA/views`) are folded from it,
/// and a daemon started on a backup folds them at start.
public final class LogBackup: @unchecked Sendable {
    private let storage: LMDBLogStorage
    private let dataDirectory: String
    private let lock = NSLock()
    private var runningTo: String?

    public init(storage: LMDBLogStorage, dataDirectory: String) {
        self.storage = storage
        self.dataDirectory = dataDirectory
    }

    /// Copies the log into `destination`, which must be an absolute path that does not exist or
    /// is an empty directory, and whose parent exists. Blocking: run it off the writer and off
    /// Swift's cooperative pool.
    @available(*, noasync)
    public func run(destination: String) throws(BackupError) -> BackupReport {
        let dest = try Self.normalised(destination)
        try claim(dest)
        defer { release() }
        let started = Date()
        let parent = try checkDestination(dest)
        let (before, _) = (try? storage.head()) ?? (0, HashChain.genesis)
        let logBytes = storage.env.stat.usedBytes

        let name = (dest as NSString).lastPathComponent
        let temporary = parent + "/.\(name).partial-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        guard mkdir(temporary, 0o700) == 0 else {
            let code = errno
            let why = "cannot create \(temporary): \(String(cString: strerror(code)))"
            if code == ENOSPC || code == EIO || code == EDQUOT { throw .failed(why) }
            throw .destination(why)
        }
        var renamed = false
        defer { if !renamed { try? FileManager.default.removeItem(atPath: temporary) } }

        do {
            try storage.env.copy(toDirectory: temporary, compact: true)
        } catch {
            throw .failed("the copy failed: \(error)")
        }
        let file = temporary + "/data.mdb"
        // LMDB writes the copy without syncing it, under the process's umask.
        try Self.sync(path: file, mode: 0o600)

        // Open the copy once: it must be a log, and its head is what the answer reports.
        let head: (seq: UInt64, hash: [UInt8])
        do {
            let copy = try LMDBLogStorage(directory: temporary)
            defer { copy.env.close() }
            head = try copy.head()
        } catch {
            throw .failed("the copy does not open as a log: \(error)")
        }
        // The lock file is recreated by whoever opens the backup; it holds nothing of the log.
        try? FileManager.default.removeItem(atPath: temporary + "/lock.mdb")
        precondition(head.seq >= before, "the backup's head \(head.seq) is behind the head \(before) before the copy")

        try Self.sync(path: temporary, mode: nil)
        guard rename(temporary, dest) == 0 else {
            let why = "cannot rename the finished copy to \(dest): \(String(cString: strerror(errno)))"
            throw .destination(why)
        }
        renamed = true
        try Self.sync(path: parent, mode: nil)

        var copied = stat()
        let bytes = stat(dest + "/data.mdb", &copied) == 0 ? Int(copied.st_size) : 0
        return BackupReport(
            destination: dest, seq: head.seq, headHash: head.hash, bytes: bytes, logBytes: logBytes,
            seconds: Date().timeIntervalSince(started))
    }

    /// `dest` without trailing slashes; relative paths are refused, since the daemon's working
    /// directory means nothing to the client that sent the path.
    static func normalised(_ destination: String) throws(BackupError) -> String {
        guard destination.hasPrefix("/") else {
            throw .destination(
                "\"dest\" must be an absolute path (the daemon does not know your directory): \(destination)")
        }
        var dest = destination
        while dest.count > 1 && dest.hasSuffix("/") { dest.removeLast() }
        let parts = dest.split(separator: "/")
        guard !parts.isEmpty, !parts.contains(".."), !parts.contains(".") else {
            throw .destination("\"dest\" must name a new directory without . or .. parts: \(destination)")
        }
        return dest
    }

    /// Refuses a destination that exists (unless an empty directory), has no parent directory,
    /// or lies inside the data directory. Returns the parent.
    private func checkDestination(_ dest: String) throws(BackupError) -> String {
        let parent = (dest as NSString).deletingLastPathComponent
        var status = stat()
        if lstat(dest, &status) == 0 {
            guard status.st_mode & S_IFMT == S_IFDIR else {
                throw .destination("\(dest) exists and is not a directory; give a new path or an empty directory")
            }
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: dest)) ?? ["?"]
            guard entries.isEmpty else {
                throw .destination("\(dest) exists and is not empty; give a new path or an empty directory")
            }
        }
        guard stat(parent, &status) == 0, status.st_mode & S_IFMT == S_IFDIR else {
            throw .destination("the parent directory \(parent) does not exist")
        }
        let data = realpath(dataDirectory)
        let within = realpath(parent).map { $0 == data || $0.hasPrefix((data ?? "\0") + "/") } ?? false
        if within {
            throw .destination("\(dest) is inside the data directory; a backup must live apart from what it saves")
        }
        return parent
    }

    private func realpath(_ path: String) -> String? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return URL(fileURLWithPath: path).resolvingSymlinksInPath().path
    }

    private func claim(_ dest: String) throws(BackupError) {
        lock.lock()
        defer { lock.unlock() }
        if let other = runningTo { throw .busy("a backup to \(other) is running; one at a time") }
        runningTo = dest
    }

    private func release() {
        lock.withLock { runningTo = nil }
    }

    /// fsync of a file or directory, after an optional chmod.
    private static func sync(path: String, mode: mode_t?) throws(BackupError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .failed("cannot open \(path) to sync it: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        if let mode, fchmod(fd, mode) != 0 {
            throw .failed("cannot set the mode of \(path): \(String(cString: strerror(errno)))")
        }
        guard fsync(fd) == 0 else { throw .failed("cannot sync \(path): \(String(cString: strerror(errno)))") }
    }
}
