import Foundation
import LedgerJSON
import LedgerTestKit
import Testing

/// `tokenledger backup DEST` (the real binary) against a real daemon: human output, `--json`
/// (recorded, so checked against `schemas/`), a relative DEST, a refusal, and `--help`.
@Suite("CLI: backup")
struct CLIBackupTests {
    @Test func backup_printsSeqHashSizeAndTime() throws {
        let place = try TemporaryDirectory(prefix: "tl-backup-")
        try withLedger { ledger in
            try ledger.makeTeam("t")
            let seq = try ledger.seq()
            let text = try ledger.cliOK(["backup", place.path + "/one"])
            let lines = text.split(separator: "\n").map(String.init)
            #expect(lines.first == "backed up seq \(seq) to \(place.path)/one", "\(text)")
            let head = try ledger.ok("verify")["head_hash"]?.string ?? "?"
            #expect(lines.contains("  head_hash: \(head)"), "\(text)")
            #expect(
                lines.contains { $0.hasPrefix("  size:      ") && $0.contains("KiB") && $0.contains("in use") },
                "\(text)")
            #expect(lines.contains { $0.hasPrefix("  took:      ") && $0.hasSuffix(" s") }, "\(text)")
            #expect(FileManager.default.fileExists(atPath: place.path + "/one/data.mdb"))
        }
    }

    @Test func backup_json_printsTheAnswerLine() throws {
        let place = try TemporaryDirectory(prefix: "tl-backup-")
        try withLedger { ledger in
            try ledger.makeTeam("t")
            let line = try ledger.cliOK(["backup", "--json", place.path + "/two"])
                .trimmingCharacters(in: .whitespacesAndNewlines)
            ledger.traffic.record(kind: "response", op: "backup", line: line)
            let answer = try JSON.parse(line)
            let seq = try ledger.seq()
            #expect(answer["ok"]?.bool == true && answer["seq"]?.int == seq, "\(line)")
            #expect((answer["bytes"]?.int ?? 0) > 0 && answer["seconds"]?.double != nil, "\(line)")
        }
    }

    @Test func backup_withARelativeDest_resolvesItFromTheWorkingDirectory() throws {
        let place = try TemporaryDirectory(prefix: "tl-backup-")
        try withLedger { ledger in
            try ledger.makeTeam("t")
            let command =
                "cd '\(place.path)' && exec '\(CLIBinary.binaryPath)' backup rel/../three --socket '\(ledger.daemon.socketPath)'"
            let result = try runProcess("/bin/sh", ["-c", command])
            let seq = try ledger.seq()
            #expect(result.termination == .exited(0), "\(result.stderr)")
            #expect(result.stdout.hasPrefix("backed up seq \(seq) to \(place.path)/three\n"), "\(result.stdout)")
            #expect(FileManager.default.fileExists(atPath: place.path + "/three/data.mdb"))
        }
    }

    @Test func backup_toANonEmptyDirectory_exitsOneWithTheReason() throws {
        let place = try TemporaryDirectory(prefix: "tl-backup-")
        try Data("x".utf8).write(to: URL(fileURLWithPath: place.path + "/keep"))
        try withLedger { ledger in
            let result = try ledger.cli(["backup", place.path])
            #expect(result.termination == .exited(1))
            #expect(result.stdout.isEmpty)
            #expect(
                result.stderr.contains("error: bad_request: \(place.path) exists and is not empty"), "\(result.stderr)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: place.path) == ["keep"])
        }
    }

    @Test func backup_help_teachesWithAnExample() throws {
        let result = try CLIBinary.run(["backup", "--help"])
        #expect(result.termination == .exited(0))
        #expect(result.stdout.contains("tokenledger backup /var/backups/tokenledger/"), "\(result.stdout)")
        #expect(result.stdout.contains("empty directory"), "\(result.stdout)")
        #expect(result.stdout.contains("verify"), "restoring is explained: \(result.stdout)")
    }
}
