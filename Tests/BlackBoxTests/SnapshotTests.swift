import Foundation
import LedgerJSON
import LedgerTestKit
import Testing

/// Issue 13 against the real daemon: restarts from snapshots, a damaged snapshot, a damaged
/// log before the snapshot found by the background check, snapshots that cannot be written,
/// and the offline `verify-snapshot`.
@Suite("Snapshots")
struct SnapshotTests {
    /// The figures a restart must reproduce: balances and a check, per team.
    static func figures(_ ledger: Ledger, teams: [String]) throws -> [String] {
        try teams.flatMap { team in
            [
                try ledger.ok("balance", ["team": .string(team)]).removing("id").line,
                try ledger.ok("balance", ["team": .string(team), "user": "u"]).removing("id").line,
                try ledger.ok("check", ["team": .string(team), "user": "u", "model": "m", "cost": 3]).removing("id")
                    .line,
            ]
        }
    }

    static func stats(_ ledger: Ledger) throws -> JSON { try ledger.ok("stats") }

    static func verifySnapshot(_ ledger: Ledger) throws -> ProcessResult {
        try runProcess(DaemonProcess.binaryPath, ["verify-snapshot", "--data", ledger.daemon.dataDirectory])
    }

    @Test func aCleanStop_writesASnapshot_andTheRestartFoldsNoTail_withTheSameFigures() throws {
        try withLedger(manualClock) { ledger in
            try ledger.makeTeam("t", plan: "starter")
            for i in 1...20 { try ledger.consume(cost: i) }
            #expect(try Self.stats(ledger)["startup"]?["snapshot_seq"]?.int == 0)
            let head = try ledger.seq()
            let before = try Self.figures(ledger, teams: ["t"])
            try ledger.restart(arguments: manualClock)
            let stats = try Self.stats(ledger)
            #expect(stats["snapshot"]?["seq"]?.int == head, "\(stats.line)")
            #expect(stats["snapshot"]?["bytes"]?.int ?? 0 > 0)
            #expect(stats["startup"]?["snapshot_seq"]?.int == head, "\(stats.line)")
            #expect(stats["startup"]?["tail_events"]?.int == 0, "\(stats.line)")
            #expect(try Self.figures(ledger, teams: ["t"]) == before)
            #expect(ledger.daemon.daemonStderr.contains("startup.snapshot_seq=\(head)"), "the start-up line says it")
            // The offline check agrees, beside the running daemon.
            let check = try Self.verifySnapshot(ledger)
            #expect(check.termination == .exited(0), "\(check.stdout)\(check.stderr)")
            #expect(check.stdout.contains("snapshot at seq \(head): equal"), "\(check.stdout)")
        }
    }

    @Test func aSnapshotEveryFewEvents_isWrittenWhileServing_andAKill9RestartFoldsOnlyTheTail() throws {
        try withLedger(manualClock + ["--snapshot-every-events", "50"]) { ledger in
            try ledger.makeTeam("t", plan: "enterprise")
            let requests = (0..<300).map { i in
                JSON.request("consume", ["team": "t", "user": "u", "model": "m", "cost": 1, "key": .string("s-\(i)")])
            }
            for a in try ledger.connection.pipeline(requests) { #expect(a["ok"]?.bool == true, "\(a.line)") }
            var snapshotSeq = 0
            for _ in 0..<100 where snapshotSeq < 250 {
                snapshotSeq = try Self.stats(ledger)["snapshot"]?["seq"]?.int ?? 0
                if snapshotSeq < 250 { Thread.sleep(forTimeInterval: 0.05) }
            }
            #expect(snapshotSeq >= 250, "a snapshot near the head was written while serving")
            try ledger.consume(cost: 1)
            let head = try ledger.seq()
            let before = try Self.figures(ledger, teams: ["t"])
            ledger.daemon.kill9()
            try ledger.daemon.restart(arguments: manualClock + ["--snapshot-every-events", "50"])
            try ledger.reconnect()
            let stats = try Self.stats(ledger)
            let from = stats["startup"]?["snapshot_seq"]?.int ?? 0
            #expect(from >= 250 && from < head, "\(stats.line)")
            #expect(stats["startup"]?["tail_events"]?.int == head - from, "\(stats.line)")
            #expect(try Self.figures(ledger, teams: ["t"]) == before)
        }
    }

    @Test func aFlippedByteInTheNewestSnapshot_fallsBackToTheOlder_thenToSeq1_withTheRightFigures() throws {
        try withLedger(manualClock) { ledger in
            try ledger.makeTeam("t", plan: "starter")
            for i in 1...10 { try ledger.consume(cost: i) }
            try ledger.restart(arguments: manualClock)  // snapshot 1 (team t only)
            let older = try ledger.seq()
            try ledger.makeTeam("newteamzz", plan: "pro")
            for i in 1...10 { try ledger.consume(team: "newteamzz", cost: i) }
            let head = try ledger.seq()
            let before = try Self.figures(ledger, teams: ["t", "newteamzz"])
            ledger.connection.close()
            #expect(try ledger.daemon.stop() == .exited(0))  // snapshot 2 (both teams)

            // The id as the snapshot writes it (u32 length, bytes): only the newest holds it.
            let flipped = try StorageFaultTests.patch(
                ledger.daemon.dataDirectory + "/data.mdb", "\u{9}\u{0}\u{0}\u{0}newteamzz",
                "\u{9}\u{0}\u{0}\u{0}newteamzZ")
            #expect(flipped >= 1)
            try ledger.restart(arguments: manualClock)
            var stats = try Self.stats(ledger)
            #expect(stats["startup"]?["snapshot_seq"]?.int == older, "\(stats.line)")
            #expect(stats["startup"]?["tail_events"]?.int == head - older, "\(stats.line)")
            #expect(try Self.figures(ledger, teams: ["t", "newteamzz"]) == before)
            #expect(ledger.daemon.daemonStderr.contains("snapshot skipped; falling back to the older snapshot"))
            #expect(ledger.daemon.daemonStderr.contains("SHA-256"), "the log line says why")
            ledger.connection.close()
            #expect(try ledger.daemon.stop() == .exited(0))

            // Every snapshot damaged: the start folds the whole log.
            let all = try StorageFaultTests.patch(ledger.daemon.dataDirectory + "/data.mdb", "tlsnap", "tlsnaP")
            #expect(all >= 2)
            try ledger.restart(arguments: manualClock)
            stats = try Self.stats(ledger)
            #expect(stats["startup"]?["snapshot_seq"]?.int == 0, "\(stats.line)")
            #expect(stats["startup"]?["tail_events"]?.int == head, "\(stats.line)")
            #expect(try Self.figures(ledger, teams: ["t", "newteamzz"]) == before)
            #expect(ledger.daemon.daemonStderr.contains("falling back to seq 1"))
        }
    }

    @Test func aFlippedByteInTheLogBeforeTheSnapshot_isFoundByTheBackgroundCheck_andAnswersIntegrity() throws {
        try withLedger(manualClock) { ledger in
            try ledger.makeTeam("t", users: ["u"])
            try ledger.consume(cost: 5)
            let bad = try ledger.ok(
                "consume", ["team": "t", "user": "u", "model": "flipmodel", "cost": 7, "key": "k-flip"])["seq"]!.int!
            for _ in 0..<5 { try ledger.consume(cost: 3) }
            let head = try ledger.seq()
            ledger.connection.close()
            #expect(try ledger.daemon.stop() == .exited(0))  // a snapshot at the head
            #expect(
                try StorageFaultTests.patch(ledger.daemon.dataDirectory + "/data.mdb", "flipmodel", "flipmodeL") >= 1)

            // Tail-only: the start checks nothing before the snapshot, and serves.
            try ledger.restart(arguments: manualClock + ["--verify-on-start", "tail"])
            #expect(try Self.stats(ledger)["startup"]?["snapshot_seq"]?.int == head)
            #expect(try ledger.call("balance", ["team": "t"])["ok"]?.bool == true)
            // The offline check finds it.
            let offline = try Self.verifySnapshot(ledger)
            #expect(offline.termination == .exited(1), "\(offline.stdout)\(offline.stderr)")
            #expect(offline.stdout.contains("event \(bad) fails its check"), "\(offline.stdout)")

            // Background (the default): found while serving; then integrity, naming the seq.
            try ledger.restart(arguments: manualClock)
            var balance = JSON.null
            for _ in 0..<200 {
                balance = try ledger.call("balance", ["team": "t"])
                if balance["ok"]?.bool != true { break }
                Thread.sleep(forTimeInterval: 0.05)
            }
            expectError(balance, code: "integrity")
            #expect(balance["error"]?["seq"]?.int == bad, "\(balance.line)")
            expectError(try ledger.consume(cost: 1), code: "integrity")
            let verify = try ledger.call("verify")
            expectError(verify, code: "integrity")
            #expect(verify["error"]?["seq"]?.int == bad, "verify names the broken event: \(verify.line)")
            #expect(try ledger.ok("ping")["seq"]?.int == head, "nothing was appended")
            #expect(ledger.daemon.daemonStderr.contains("found by the background check"))

            // Full: the start itself finds it.
            try ledger.restart(arguments: manualClock + ["--verify-on-start", "full"])
            expectError(try ledger.call("balance", ["team": "t"]), code: "integrity")
        }
    }

    @Test func snapshotsThatCannotBeWritten_leaveTheWritesGoingOn() throws {
        // A map whose maximum leaves no room for a snapshot beside the log: each write is
        // refused (logged), and every request is still acknowledged.
        try withLedger(
            manualClock + ["--map-size-mib", "1", "--max-map-size-mib", "16", "--snapshot-every-events", "20"]
        ) { ledger in
            try ledger.makeTeam("t", plan: "enterprise")
            var acked = 0
            for round in 0..<5 {
                let requests = (0..<100).map { i in
                    JSON.request(
                        "consume",
                        ["team": "t", "user": "u", "model": "m", "cost": 1, "key": .string("f-\(round)-\(i)")])
                }
                acked += try ledger.connection.pipeline(requests).filter { $0["ok"]?.bool == true }.count
            }
            #expect(acked == 500)
            var failed = false
            for _ in 0..<100 where !failed {
                failed = ledger.daemon.daemonStderr.contains("snapshot write failed")
                if !failed { Thread.sleep(forTimeInterval: 0.05) }
            }
            #expect(failed, "the refused snapshot is logged")
            #expect(try Self.stats(ledger)["snapshot"] == .null)
            #expect(try ledger.consume(cost: 1)["ok"]?.bool == true)
            #expect(try ledger.ok("verify")["checked"]?.int == (try ledger.seq()))
        }
    }
}
