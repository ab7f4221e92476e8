import Foundation
import LedgerJSON
import LedgerTestKit
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `backup {dest}` (an op this daemon adds, admin): a hot, compacted copy of the log while the
/// daemon serves. A daemon started on the copy must answer like the original at the copy's head.
@Suite("Backup")
struct BackupTests {
    /// Events appended before the backup, so that the copy takes measurable time.
    static let prefill = 10_000

    @Test func backup_whileWritesGoOn_restoresToTheSameHeadAndAnswers() throws {
        let place = try TemporaryDirectory(prefix: "tl-backup-")
        let dest = place.path + "/nightly"
        try withLedger(manualClock + ["--read-wait-ms", "30000"]) { ledger in
            // Team acme stays still from here on; team busy takes the writes during the copy.
            try Scenario.usage(ledger)
            try ledger.makeTeam("busy", plan: "enterprise")
            let filled = try appendConsumes(
                socketPath: ledger.daemon.socketPath, team: "busy", user: "u", total: Self.prefill, keyPrefix: "pre")
            #expect(filled.acked == Self.prefill, "\(filled.problems.prefix(3))")

            let stream = ConsumeStream(
                socketPath: ledger.daemon.socketPath, team: "busy", user: "u", batchSize: 50, batchesMax: 100)
            stream.start(connections: 2, recorder: nil)
            #expect(stream.waitForAcks(500), "the stream is writing when the backup starts")
            let before = try ledger.seq()
            let backup = try ledger.connect(timeoutSeconds: 120).call("backup", ["dest": .string(dest)])
            #expect(stream.waitUntilFinished(timeoutSeconds: 120))
            #expect(stream.unexpectedAnswers.isEmpty, "\(stream.unexpectedAnswers.prefix(3))")

            guard backup["ok"]?.bool == true, let seq = backup["seq"]?.int, let hash = backup["head_hash"]?.string,
                let bytes = backup["bytes"]?.int
            else {
                Issue.record("backup failed: \(backup.line)")
                return
            }
            #expect(seq >= before, "the copy holds every event committed before it was asked for")
            #expect(try ledger.seq() > seq, "writes went on after the copy's snapshot")
            #expect(backup["dest"]?.string == dest)
            print("backup: \(seq) events, \(bytes) bytes in \(backup["seconds"]?.double ?? -1) s: \(backup.line)")

            let files = try FileManager.default.contentsOfDirectory(atPath: place.path)
            #expect(files == ["nightly"], "no temporary name is left beside the backup: \(files)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: dest) == ["data.mdb"])
            var status = stat()
            #expect(stat(dest + "/data.mdb", &status) == 0 && Int(status.st_size) == bytes)
            #expect(status.st_mode & 0o777 == 0o600, "the copy is readable by the daemon's user only")

            // The original at the backup's head.
            let verified = try ledger.ok("verify", ["to_seq": JSON(seq)])
            #expect(verified["head_seq"]?.int == seq && verified["head_hash"]?.string == hash, "\(verified.line)")
            let reads = Self.reads
            let original = try reads.map { try ledger.call($0.op, $0.fields).removing("id") }
            let originalLog = try ledger.audit().filter { ($0["seq"]?.int ?? 0) <= seq }
            #expect(originalLog.count == seq)
            _ = try ledger.daemon.stop()

            // A daemon on the backup: same head, same answers.
            let restored = try DaemonProcess(
                arguments: manualClock + ["--read-wait-ms", "30000"], dataDirectory: dest)
            defer { _ = try? restored.stop() }
            let connection = try LedgerConnection(socketPath: restored.socketPath, recorder: ledger.traffic)
            defer { connection.close() }
            let head = try connection.call("verify")
            #expect(head["ok"]?.bool == true && head["checked"]?.int == seq, "\(head.line)")
            #expect(head["head_seq"]?.int == seq && head["head_hash"]?.string == hash, "\(head.line)")
            for (read, answer) in zip(reads, original) {
                let again = try connection.call(read.op, read.fields).removing("id")
                #expect(again == answer, "\(read.op) on the backup: \(again.line)\noriginal: \(answer.line)")
            }
            let restoredLog = try Self.audit(connection)
            #expect(restoredLog.count == originalLog.count)
            #expect(restoredLog == originalLog, "the backup's log is the original's, event for event")
            #expect(try restored.stop() == .exited(0))
        }
    }

    /// Reads compared between the original and the restored daemon (team acme is still).
    static let reads: [(op: String, fields: KeyValuePairs<String, JSON>)] = [
        ("balance", ["team": "acme", "user": "ana"]),
        ("balance", ["team": "acme"]),
        ("usage", ["team": "acme"]),
        ("usage", ["team": "acme", "pod": "web"]),
        ("report", ["team": "acme", "period": "day", "by": "model"]),
        ("report", ["team": "acme", "period": "month", "by": "pod"]),
        ("audit", ["team": "acme"]),
    ]

    static func audit(_ connection: LedgerConnection) throws -> [JSON] {
        var events: [JSON] = []
        var after = 0
        while true {
            let page = try connection.call("audit", ["after_seq": JSON(after), "limit": 10_000])
            guard page["ok"]?.bool == true, let list = page["events"]?.array else {
                throw LedgerTestError("audit failed: \(page.line)")
            }
            events += list
            guard let next = page["next_after_seq"]?.int else { return events }
            after = next
        }
    }

    /// (what DEST is, how it is made): each refused with `bad_request`, nothing written.
    static let badDestinations: [(String, String)] = [
        ("non-empty", "a directory holding a file"),
        ("file", "a regular file"),
        ("no-parent", "a path whose parent does not exist"),
        ("inside-data", "a directory inside the data directory"),
        ("unwritable", "a directory in a parent the daemon cannot write"),
    ]

    @Test(arguments: badDestinations.map(\.0))
    func backup_toABadDestination_isRefusedAndWritesNothing(kind: String) throws {
        let place = try TemporaryDirectory(prefix: "tl-backup-")
        try withLedger { ledger in
            try ledger.makeTeam("t")
            let files = FileManager.default
            var dest = place.path + "/dest"
            switch kind {
            case "non-empty":
                try files.createDirectory(atPath: dest, withIntermediateDirectories: false)
                try Data("keep".utf8).write(to: URL(fileURLWithPath: dest + "/keep.txt"))
            case "file":
                try Data("keep".utf8).write(to: URL(fileURLWithPath: dest))
            case "no-parent":
                dest = place.path + "/missing/dest"
            case "inside-data":
                dest = ledger.daemon.dataDirectory + "/backup"
            case "unwritable":
                // Root writes anywhere: a read-only place for root is /proc.
                dest = getuid() == 0 ? "/proc/tokenledger-backup" : "/dest"
            default:
                Issue.record("unknown case \(kind)")
            }
            let placeBefore = try Self.tree(place.path)
            let dataBefore = try files.contentsOfDirectory(atPath: ledger.daemon.dataDirectory).sorted()
            let answer = try ledger.fails("backup", ["dest": .string(dest)], code: "bad_request")
            let message = answer["error"]?["message"]?.string ?? ""
            #expect(
                message.contains(dest) || message.contains((dest as NSString).deletingLastPathComponent), "\(message)")
            #expect(try Self.tree(place.path) == placeBefore, "nothing written beside DEST")
            #expect(try files.contentsOfDirectory(atPath: ledger.daemon.dataDirectory).sorted() == dataBefore)
            _ = try ledger.ok("verify")
        }
    }

    @Test func backup_withARelativeDest_isRefusedByTheDaemonAndTheSchema() throws {
        try withLedger { ledger in
            let answer = try ledger.fails("backup", ["dest": "backups/today"], code: "bad_request", schemaRejects: true)
            #expect(answer["error"]?["message"]?.string?.contains("absolute") == true, "\(answer.line)")
            try ledger.fails("backup", [:], code: "bad_request", schemaRejects: true)
        }
    }

    @Test func backup_intoAnEmptyDirectory_replacesIt() throws {
        let place = try TemporaryDirectory(prefix: "tl-backup-")
        let dest = place.path + "/empty"
        try FileManager.default.createDirectory(atPath: dest, withIntermediateDirectories: false)
        try withLedger { ledger in
            try ledger.makeTeam("t")
            let answer = try ledger.ok("backup", ["dest": .string(dest + "/")])
            let seq = try ledger.seq()
            #expect(answer["dest"]?.string == dest)
            #expect(answer["seq"]?.int == seq)
            #expect(try FileManager.default.contentsOfDirectory(atPath: dest) == ["data.mdb"])
            // The same DEST again now holds a backup: refused, the first one kept.
            try ledger.fails("backup", ["dest": .string(dest)], code: "bad_request")
            #expect(try FileManager.default.contentsOfDirectory(atPath: dest) == ["data.mdb"])
        }
    }

    @Test(
        .enabled(if: OtherUser.isAvailable, "needs root, setpriv, /usr/bin/python3 and nogroup"),
        arguments: ["gateway", "auditor"])
    func backup_byANonAdminRole_isForbiddenAndWritesNothing(role: String) throws {
        let place = try TemporaryDirectory(prefix: "tl-backup-")
        let arguments = manualClock + ["--socket-group", OtherUser.groupName, "--role", "\(role)=\(OtherUser.uid)"]
        try withLedger(arguments) { ledger in
            // The other uid must be able to reach the socket: the temp dir is 0700 by default.
            chmod(ledger.daemon.directory.path, 0o755)
            let answers = try OtherUser.call(ledger, [["op": "backup", "id": 1, "dest": .string(place.path + "/x")]])
            expectError(answers[0], code: "forbidden")
            #expect(
                answers[0]["error"]?["message"]?.string?.contains("may not use backup") == true, "\(answers[0].line)")
            #expect(try Self.tree(place.path).isEmpty)
            #expect(ledger.daemon.daemonStderr.contains("request.op=backup"), "the denial is logged with its op")
        }
    }

    /// Every path under `root` (relative), sorted.
    static func tree(_ root: String) throws -> [String] {
        (FileManager.default.subpaths(atPath: root) ?? []).sorted()
    }
}
