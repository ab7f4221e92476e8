import Foundation
import LedgerJSON
import LedgerTestKit
import Testing

/// The auditor's side, through the real CLI: `audit --format --output` exports the log page by
/// page, `verify-export` re-derives its hash chain offline (§6), and an independent RFC 8785
/// implementation (Python's `rfc8785` package) agrees on every hash.
@Suite("Export and offline verification")
struct ExportTests {
    /// argv: an NDJSON export. Re-derives the chain with the `rfc8785` package (an implementation
    /// of RFC 8785 that shares nothing with ours); prints `head N SEQ HASH`, or `MISMATCH seq S`
    /// at the first event whose stored hash differs and exits 1. Exit 3 when rfc8785 is missing.
    static let rederive = #"""
        import hashlib, json, sys
        try:
            import rfc8785
        except ImportError as error:
            print("SKIP: " + str(error)); sys.exit(3)
        previous = None
        count = 0
        seq = None
        with open(sys.argv[1], encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                event = json.loads(line)
                stated = event.pop("hash")
                seq = event["seq"]
                if previous is None:
                    if seq != 1:
                        previous = bytes.fromhex(stated); count += 1; continue
                    previous = bytes(32)
                digest = hashlib.sha256(previous + rfc8785.dumps(event))
                if digest.hexdigest() != stated:
                    print("MISMATCH seq %d: stated %s, derived %s" % (seq, stated, digest.hexdigest()))
                    sys.exit(1)
                previous = digest.digest()
                count += 1
        print("head %d %s %s" % (count, seq, previous.hex() if previous else ""))
        """#

    static var python: String? {
        guard let python = findExecutable("python3"),
            (try? runProcess(python, ["-c", "import rfc8785"], timeoutSeconds: 60))?.termination == .exited(0)
        else { return nil }
        return python
    }

    static func rfc8785(_ path: String) throws -> ProcessResult? {
        guard let python else {
            print(
                "RFC 8785 CROSS-CHECK SKIPPED: python3 has no rfc8785 (pip install rfc8785; tools/ensure-deps --test)")
            return nil
        }
        return try runProcess(python, ["-c", rederive, path], timeoutSeconds: 120)
    }

    /// A log with what makes canonical JSON non-trivial: decimals stored as thousandths, non-ASCII
    /// and escaped text, keys whose UTF-16 order differs from code-point order, nested objects
    /// and arrays, scheduler events.
    static func makeHistory(_ ledger: Ledger) throws {
        try ledger.makeTeam("t", plan: "pro", timezone: "Asia/Kathmandu", users: ["u", "ü-ser"])
        try ledger.ok("price.set", ["model": "m", "kind": "text", "input_weight": 1.5, "output_weight": 3])
        try ledger.ok("pod.create", ["team": "t", "pod": "p"])
        for i in 0..<20 {
            try ledger.ok(
                "consume",
                [
                    "team": "t", "user": i % 2 == 0 ? "u" : "ü-ser", "pod": "p", "task": .string("task-\(i % 3)"),
                    "model": "m", "input_tokens": JSON(10 + i), "output_tokens": 7, "key": .string("c\(i)"),
                    // RFC 8785 orders keys by UTF-16 code units: "𝄞" (D834 DD1E) before "ｚ" (FF5A),
                    // where code-point order puts it after.
                    "params": ["note": "tab\there \"quoted\" \\ café ☕ 𝄞", "ｚ": "wide", "𝄞": "clef", "steps": 50],
                ])
        }
        try ledger.ok("topup", ["team": "t", "amount": 10, "package": "café ☕ \"quoted\" \\ slash", "key": "p"])
        try ledger.ok("clock.advance", ["seconds": 86_400])
        try ledger.consume(cost: 3)
    }

    static func lines(_ path: String) -> [String] {
        readFile(path).split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
    }

    @Test(.enabled(if: CLI.isAvailable, "needs the tokenledger binary"))
    func ndjsonExport_verifiesOffline_andAFlippedByteIsFoundAtItsSeq() throws {
        try withLedger { ledger in
            try Self.makeHistory(ledger)
            let verified = try ledger.ok("verify")
            let headHash = try #require(verified["head_hash"]?.string)
            let head = try ledger.seq()
            let directory = try TemporaryDirectory(prefix: "tl-export-")
            let export = directory.path + "/ledger.ndjson"

            let made = try CLI.run(
                ["audit", "--format", "ndjson", "--output", export, "--limit", "7"], daemon: ledger.daemon)
            #expect(made.termination == .exited(0), "\(made.stdout)\(made.stderr)")
            #expect(made.stderr.contains("exported \(head) events (seq 1..\(head)) as ndjson"), "\(made.stderr)")
            let exported = Self.lines(export)
            let audited = try ledger.audit()
            #expect(exported.count == head)
            #expect(try exported.map { try JSON.parse($0) } == audited, "one event per line, as audit returns them")

            let ok = try CLI.run(["verify-export", export], daemon: ledger.daemon)
            #expect(ok.termination == .exited(0), "\(ok.stdout)\(ok.stderr)")
            #expect(ok.stdout == "ok: \(head) events, seq 1..\(head), head_hash \(headHash)\n")

            // An independent RFC 8785 derives the same chain, to the same head.
            if let result = try Self.rfc8785(export) {
                #expect(result.termination == .exited(0), "\(result.stdout)\(result.stderr)")
                #expect(result.stdout == "head \(head) \(head) \(headHash)\n")
            }

            // One byte flipped inside one event: the team of a consume in the middle.
            let target = try #require(audited.first { $0["type"]?.string == "consumed" && $0["seq"]!.int! > head / 2 })
            let seq = try #require(target["seq"]?.int)
            var tampered = exported
            let original = tampered[seq - 1]
            var bytes = Array(original.utf8)
            let at = try #require(Self.range(of: #""team":"t""#, in: bytes)).upperBound - 2
            #expect(bytes[at] == UInt8(ascii: "t"))
            bytes[at] = UInt8(ascii: "s")
            tampered[seq - 1] = String(decoding: bytes, as: UTF8.self)
            let broken = directory.path + "/tampered.ndjson"
            try (tampered.joined(separator: "\n") + "\n").write(toFile: broken, atomically: true, encoding: .utf8)
            let refused = try CLI.run(["verify-export", broken], daemon: ledger.daemon)
            #expect(refused.termination == .exited(1))
            #expect(refused.stdout.hasPrefix("seq \(seq): hash mismatch"), "\(refused.stdout)\(refused.stderr)")
            if let result = try Self.rfc8785(broken) {
                #expect(result.termination == .exited(1))
                #expect(result.stdout.hasPrefix("MISMATCH seq \(seq):"), "\(result.stdout)\(result.stderr)")
            }

            // A missing line is a gap; a line that is not JSON is named by its number.
            var gapped = exported
            gapped.remove(at: seq - 1)
            let gap = directory.path + "/gap.ndjson"
            try (gapped.joined(separator: "\n") + "\n").write(toFile: gap, atomically: true, encoding: .utf8)
            let gapResult = try CLI.run(["verify-export", gap], daemon: ledger.daemon)
            #expect(gapResult.termination == .exited(1))
            #expect(gapResult.stdout.hasPrefix("seq \(seq + 1): gap"), "\(gapResult.stdout)")
            var garbled = exported
            garbled[4] = "{not json"
            let garbage = directory.path + "/garbage.ndjson"
            try (garbled.joined(separator: "\n") + "\n").write(toFile: garbage, atomically: true, encoding: .utf8)
            let garbageResult = try CLI.run(["verify-export", garbage], daemon: ledger.daemon)
            #expect(garbageResult.termination == .exited(1))
            #expect(garbageResult.stdout.hasPrefix("unparseable line 5"), "\(garbageResult.stdout)")
            let missing = try CLI.run(["verify-export", directory.path + "/none.ndjson"], daemon: ledger.daemon)
            #expect(missing.termination == .exited(1))
            #expect(missing.stderr.contains("cannot open"), "\(missing.stderr)")

            // An export that starts later trusts its first stored hash, says so, and reaches the same head.
            let tail = directory.path + "/tail.ndjson"
            let after = head - 5
            let tailMade = try CLI.run(
                ["audit", "--after-seq", "\(after)", "--format", "ndjson", "--output", tail], daemon: ledger.daemon)
            #expect(tailMade.termination == .exited(0), "\(tailMade.stderr)")
            let tailOK = try CLI.run(["verify-export", tail], daemon: ledger.daemon)
            #expect(tailOK.termination == .exited(0))
            #expect(tailOK.stdout.hasPrefix("ok: 5 events, seq \(after + 1)..\(head), head_hash \(headHash)\n"))
            #expect(tailOK.stdout.contains("trusted"), "\(tailOK.stdout)")
        }
    }

    /// RFC 4180, enough for what the export writes: quoted fields with doubled quotes, CRLF.
    static func parseCSV(_ text: String) throws -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var field = ""
        var quoted = false
        var chars = Array(text.unicodeScalars)[...]
        while let c = chars.popFirst() {
            if quoted {
                if c == "\"" {
                    if chars.first == "\"" {
                        field.unicodeScalars.append("\"")
                        chars = chars.dropFirst()
                    } else {
                        quoted = false
                    }
                } else {
                    field.unicodeScalars.append(c)
                }
                continue
            }
            switch c {
            case "\"" where field.isEmpty: quoted = true
            case ",":
                row.append(field)
                field = ""
            case "\r":
                guard chars.popFirst() == "\n" else { throw LedgerTestError("a CR without LF in the CSV") }
                row.append(field)
                rows.append(row)
                row = []
                field = ""
            default: field.unicodeScalars.append(c)
            }
        }
        guard !quoted, field.isEmpty, row.isEmpty else { throw LedgerTestError("the CSV ends inside a record") }
        return rows
    }

    @Test(.enabled(if: CLI.isAvailable, "needs the tokenledger binary"))
    func exportFormats_writeEveryRecord_andParseBack() throws {
        try withLedger { ledger in
            try Self.makeHistory(ledger)
            try ledger.makeTeam("other")
            for _ in 0..<30 { try ledger.consume(team: "other", cost: 1) }
            let all = try ledger.audit()
            let teamT = try ledger.audit(["team": "t"])
            let directory = try TemporaryDirectory(prefix: "tl-export-")

            // NDJSON, JSON, CSV of the whole log in pages of 9.
            for format in ["ndjson", "json", "csv"] {
                let path = directory.path + "/all.\(format)"
                let result = try CLI.run(
                    ["audit", "--format", format, "--output", path, "--limit", "9"], daemon: ledger.daemon)
                #expect(result.termination == .exited(0), "\(format): \(result.stderr)")
                #expect(result.stderr.contains("exported \(all.count) events"), "\(result.stderr)")
                let records = try Self.parse(readFile(path), format: format)
                #expect(records == all, "\(format) parses back to the events")
            }

            // Filters apply; without --output the export goes to stdout (the summary to stderr).
            let stdout = try CLI.run(["audit", "--team", "t", "--format", "json"], daemon: ledger.daemon)
            #expect(stdout.termination == .exited(0), "\(stdout.stderr)")
            #expect(try Self.parse(stdout.stdout, format: "json") == teamT)
            let csv = try CLI.run(["audit", "--team", "t", "--format", "csv"], daemon: ledger.daemon)
            let rows = try Self.parseCSV(csv.stdout)
            #expect(
                rows.first == [
                    "seq", "ts", "type", "team", "user", "pod", "task", "model", "operation", "input_tokens",
                    "output_tokens", "cost", "amount", "key", "hash", "event",
                ])
            #expect(rows.count == teamT.count + 1)
            #expect(rows.dropFirst().map { $0[0] } == teamT.map { String($0["seq"]!.int!) })
            #expect(rows.dropFirst().map { $0[4] } == teamT.map { $0["user"]?.string ?? "" })
            #expect(rows.dropFirst().map { $0[11] } == teamT.map { $0["cost"].map { String($0.int!) } ?? "" })
            #expect(rows.dropFirst().map { $0[14] } == teamT.map { $0["hash"]!.string! })

            // Bad input changes nothing: no file, and an existing file is left as it was.
            let kept = directory.path + "/kept.ndjson"
            try "keep me\n".write(toFile: kept, atomically: true, encoding: .utf8)
            let badFormat = try CLI.run(["audit", "--format", "xml", "--output", kept], daemon: ledger.daemon)
            #expect(badFormat.termination == .exited(64), "\(badFormat.stderr)")
            let badFrom = try CLI.run(
                ["audit", "--from", "yesterday", "--format", "ndjson", "--output", kept], daemon: ledger.daemon)
            #expect(badFrom.termination == .exited(1))
            #expect(badFrom.stderr.contains("bad_request"), "\(badFrom.stderr)")
            #expect(readFile(kept) == "keep me\n")
            let noDirectory = try CLI.run(
                ["audit", "--format", "csv", "--output", directory.path + "/no/such/dir.csv"], daemon: ledger.daemon)
            #expect(noDirectory.termination == .exited(1))
            #expect(noDirectory.stderr.contains("cannot write"), "\(noDirectory.stderr)")
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            #expect(!leftovers.contains { $0.contains(".partial-") }, "\(leftovers)")
        }
    }

    /// Events from an export, by format (for CSV: the last column, after checking the seq column).
    static func parse(_ text: String, format: String) throws -> [JSON] {
        switch format {
        case "ndjson":
            return try text.split(separator: "\n").map { try JSON.parse(String($0)) }
        case "json":
            guard let array = try JSON.parse(text).array else { throw LedgerTestError("not an array") }
            return array
        default:
            let rows = try parseCSV(text)
            guard rows.first?.count == 16 else { throw LedgerTestError("the CSV header has no 16 columns") }
            return try rows.dropFirst().map { row in
                guard row.count == 16 else { throw LedgerTestError("a CSV record without 16 fields: \(row)") }
                let event = try JSON.parse(row[15])
                guard event["seq"]?.int.map(String.init) == row[0], event["type"]?.string == row[2] else {
                    throw LedgerTestError("CSV columns disagree with the event: \(row)")
                }
                return event
            }
        }
    }

    static func range(of needle: String, in haystack: [UInt8]) -> Range<Int>? {
        let n = Array(needle.utf8)
        guard haystack.count >= n.count else { return nil }
        for i in 0...(haystack.count - n.count) where Array(haystack[i..<(i + n.count)]) == n {
            return i..<(i + n.count)
        }
        return nil
    }
}
