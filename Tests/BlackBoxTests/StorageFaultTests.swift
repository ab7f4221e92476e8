import Foundation
import LedgerJSON
import LedgerTestKit
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Issue 5's storage faults, against the real daemon: a flipped byte in a stored event, a map
/// that fills while a stream goes on, and a disk that fills up and then frees space.
@Suite("Storage faults")
struct StorageFaultTests {
    /// Every byte string `needle` in the file replaced by `replacement` (same length); how many.
    static func patch(_ path: String, _ needle: String, _ replacement: String) throws -> Int {
        precondition(needle.utf8.count == replacement.utf8.count)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let n = Array(needle.utf8)
        let r = Array(replacement.utf8)
        var count = 0
        var i = 0
        while i + n.count <= bytes.count {
            if bytes[i] == n[0] && Array(bytes[i..<(i + n.count)]) == n {
                bytes.replaceSubrange(i..<(i + n.count), with: r)
                count += 1
                i += n.count
            } else {
                i += 1
            }
        }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return count
    }

    @Test func aFlippedByteInAStoredEvent_isNamedByVerify_andNoMoneyIsServedFromTheLog() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t", users: ["u"])
            try ledger.consume(cost: 5)
            let bad = try ledger.ok(
                "consume", ["team": "t", "user": "u", "model": "flipmodel", "cost": 7, "key": "k-flip"])["seq"]!.int!
            try ledger.consume(cost: 3)
            let head = try ledger.seq()
            ledger.connection.close()
            #expect(try ledger.daemon.stop() == .exited(0))

            // One byte of the event's value, in every copy LMDB's pages hold (old page
            // versions may still be in the file).
            let flipped = try Self.patch(ledger.daemon.dataDirectory + "/data.mdb", "flipmodel", "flipmodeL")
            #expect(flipped >= 1)

            for round in 1...2 {
                // It starts (no crash loop), and says why it refuses. `full`: the start checks
                // the whole log (the default checks it in the background: SnapshotTests).
                try ledger.restart(arguments: manualClock + ["--verify-on-start", "full"])
                #expect(try ledger.ok("ping")["seq"]?.int == head, "round \(round)")
                let verify = try ledger.call("verify")
                expectError(verify, code: "integrity")
                #expect(verify["error"]?["seq"]?.int == bad, "verify names the broken event: \(verify.line)")
                let balance = try ledger.call("balance", ["team": "t"])
                expectError(balance, code: "integrity")
                #expect(balance["error"]?["seq"]?.int == bad, "\(balance.line)")
                expectError(try ledger.consume(cost: 1), code: "integrity")
                expectError(
                    try ledger.call("check", ["team": "t", "user": "u", "model": "m", "cost": 1]), code: "integrity")
                #expect(try ledger.ok("ping")["seq"]?.int == head, "nothing was appended")
                // Nor figures from the read models, which fold the log without checking hashes.
                expectError(try ledger.call("usage", ["team": "t"]), code: "integrity")
                expectError(try ledger.call("report", ["team": "t", "period": "day"]), code: "integrity")
                // The events before it are still readable for the auditor.
                let audit = try ledger.call("audit", ["limit": JSON(bad - 1)])
                #expect(audit["ok"]?.bool == true, "\(audit.line)")
            }
            #expect(ledger.daemon.daemonStderr.contains("log integrity failure"), "logged at critical")
        }
    }

    @Test func aTinyMap_growsOnline_whileAPipelinedStreamGoesOn() throws {
        try withLedger(manualClock + ["--map-size-mib", "1"]) { ledger in
            try ledger.makeTeam("t", plan: "enterprise", users: ["u"])
            let before = try ledger.ok("stats")["map_size"]!.int!
            #expect(before <= 2 << 20)
            var acked = 0
            for round in 0..<12 {
                let requests = (0..<500).map { i in
                    JSON.request(
                        "consume",
                        [
                            "team": "t", "user": "u", "model": "m", "cost": 1,
                            "key": .string("grow-\(round)-\(i)"),
                        ])
                }
                let answers = try ledger.connection.pipeline(requests)
                for a in answers {
                    #expect(a["ok"]?.bool == true, "\(a.line)")
                    if a["ok"]?.bool == true { acked += 1 }
                }
            }
            #expect(acked == 6000)
            let stats = try ledger.ok("stats")
            #expect(stats["map_size"]!.int! > before, "the map grew: \(stats.line)")
            #expect(stats["map_used"]!.int! > 1 << 20, "past the first map: \(stats.line)")
            let verify = try ledger.ok("verify")
            #expect(verify["checked"]?.int == stats["seq"]?.int)
        }
    }

    @Test(.enabled(if: findExecutable("mdb_dump") != nil, "needs mdb_dump (lmdb-utils)"))
    func aReaderKilledWhileReading_isClearedByThePeriodicCheck() throws {
        try withLedger(manualClock + ["--reader-check-seconds", "1"]) { ledger in
            try ledger.makeTeam("t", plan: "enterprise", users: ["u"])
            let requests = (0..<2000).map { i in
                JSON.request(
                    "consume", ["team": "t", "user": "u", "model": "m", "cost": 1, "key": .string("r-\(i)")])
            }
            _ = try ledger.connection.pipeline(requests)
            // mdb_dump writes the log into a pipe nobody reads: it blocks inside its read
            // transaction, and is killed there, leaving its reader slot behind.
            let dump = Process()
            dump.executableURL = URL(fileURLWithPath: findExecutable("mdb_dump")!)
            dump.arguments = ["-a", ledger.daemon.dataDirectory]
            let pipe = Pipe()
            dump.standardOutput = pipe
            try dump.run()
            Thread.sleep(forTimeInterval: 0.5)
            #expect(dump.isRunning, "mdb_dump should be blocked on the full pipe")
            kill(dump.processIdentifier, SIGKILL)
            dump.waitUntilExit()
            var cleared = false
            for _ in 0..<100 where !cleared {
                Thread.sleep(forTimeInterval: 0.1)
                cleared = ledger.daemon.daemonStderr.contains("stale LMDB readers cleared")
            }
            #expect(cleared, "the daemon's periodic check clears the dead reader's slot")
            #expect(ledger.daemon.daemonStderr.contains("lmdb.readers=1"))
            #expect(try ledger.consume(team: "t", cost: 1)["ok"]?.bool == true)
            _ = pipe
        }
    }

    /// A size-limited tmpfs for the data directory (needs root and mount).
    static let canMount: Bool = {
        guard getuid() == 0, let mount = findExecutable("mount"), findExecutable("umount") != nil else { return false }
        let dir = NSTemporaryDirectory() + "tl-mount-probe-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        guard (try? runProcess(mount, ["-t", "tmpfs", "-o", "size=1m", "tmpfs", dir]))?.termination == .exited(0) else {
            return false
        }
        _ = try? runProcess(findExecutable("umount")!, [dir])
        return true
    }()

    @Test(.enabled(if: StorageFaultTests.canMount, "needs root and mount -t tmpfs"))
    func aFullDisk_answersUnavailable_losesNothingAcknowledged_andRecoversWhenSpaceReturns() throws {
        let mountPoint = NSTemporaryDirectory() + "tl-full-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        #expect(
            try runProcess(findExecutable("mount")!, ["-t", "tmpfs", "-o", "size=8m", "tmpfs", mountPoint]).termination
                == .exited(0))
        defer {
            _ = try? runProcess(findExecutable("umount")!, ["-l", mountPoint])
            try? FileManager.default.removeItem(atPath: mountPoint)
        }
        let filler = mountPoint + "/filler"
        try withLedger(manualClock, dataDirectory: mountPoint + "/data") { ledger in
            try ledger.makeTeam("t", plan: "enterprise", users: ["u"])
            // Fill the disk, leaving a little room for the log.
            _ = try runProcess(
                findExecutable("dd")!, ["if=/dev/zero", "of=\(filler)", "bs=64k", "count=1000"], timeoutSeconds: 30)
            let free =
                try FileManager.default.attributesOfFileSystem(forPath: mountPoint)[.systemFreeSize] as? Int ?? -1
            #expect(free < 64 << 10, "the disk is full: \(free) bytes free")
            let shrunk = max(
                0, (try FileManager.default.attributesOfItem(atPath: filler)[.size] as? Int ?? 0) - (256 << 10))
            truncate(filler, off_t(shrunk))

            var acked: [String: Int] = [:]
            var refused = 0
            var round = 0
            while refused == 0 && round < 40 {
                let requests = (0..<250).map { i in
                    JSON.request(
                        "consume",
                        [
                            "team": "t", "user": "u", "model": "m", "cost": 1, "key": .string("full-\(round)-\(i)"),
                        ])
                }
                let answers = try ledger.connection.pipeline(requests)
                for (request, answer) in zip(requests, answers) {
                    if answer["ok"]?.bool == true {
                        acked[request["key"]!.string!] = answer["seq"]!.int!
                    } else {
                        expectError(answer, code: "unavailable")
                        refused += 1
                    }
                }
                round += 1
            }
            #expect(refused > 0, "the disk never filled: \(acked.count) acknowledged")
            #expect(!acked.isEmpty)
            // Still serving, and the log is whole.
            #expect(try ledger.ok("ping")["seq"]?.int == acked.values.max())
            // Space returns: writes go on, with no restart.
            try FileManager.default.removeItem(atPath: filler)
            var after: JSON = .null
            for _ in 0..<50 {
                after = try ledger.consume(team: "t", cost: 1, key: "after-space")
                if after["ok"]?.bool == true { break }
                Thread.sleep(forTimeInterval: 0.1)
            }
            #expect(after["ok"]?.bool == true, "\(after.line)")
            let head = try ledger.seq()
            #expect(try ledger.ok("verify")["checked"]?.int == head)
            let events = try ledger.audit(["types": ["consumed"]])
            var seen: [String: Int] = [:]
            for e in events { seen[e["key"]!.string!, default: 0] += 1 }
            for (key, seq) in acked {
                #expect(seen[key] == 1, "acknowledged \(key) (seq \(seq)) is in the log once")
            }
            #expect(seen.values.allSatisfy { $0 == 1 })
            try ledger.restart(arguments: manualClock)
            #expect(try ledger.ok("verify")["checked"]?.int == head)
            #expect(try ledger.seq() == head)
        }
    }
}
