import Foundation
import LedgerTestKit
import Testing

/// §6: "an auditor re-derives the whole chain from an export without trusting the daemon".
/// hash = SHA-256(previous hash bytes, 32 zero bytes for seq 1 ‖ JCS(event without hash)).
/// Re-derived here by python3 (hashlib; JCS via sorted keys, no whitespace, no ASCII escaping,
/// exact for the ASCII keys and integer-only numbers events have).
@Suite("Hash chain")
struct HashChainTests {
    private static let rederive = #"""
        import hashlib, json, sys
        previous = bytes(32)
        bad = []
        count = 0
        with open(sys.argv[1], encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                event = json.loads(line)
                stated = event.pop("hash", None)
                canonical = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
                digest = hashlib.sha256(previous + canonical)
                if digest.hexdigest() != stated:
                    bad.append("seq %s: stated %s, derived %s from %s" % (event.get("seq"), stated, digest.hexdigest(), canonical[:300]))
                previous = digest.digest()
                count += 1
        print("re-derived %d events" % count)
        for b in bad[:10]:
            print("MISMATCH " + b)
        sys.exit(1 if bad else 0)
        """#

    @Test(.enabled(if: findExecutable("python3") != nil, "needs python3"))
    func auditExport_reDerivesEveryHashAndTheHead() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t", timezone: "Asia/Kathmandu")
            try ledger.ok("price.set", ["model": "m", "kind": "text", "input_weight": 1.5, "output_weight": 3])
            try ledger.ok(
                "consume", ["team": "t", "user": "u", "model": "m", "input_tokens": 3, "output_tokens": 2, "key": "c"])
            try ledger.ok("topup", ["team": "t", "amount": 10, "package": "café ☕ \"quoted\" \\ slash", "key": "p"])
            try ledger.ok("clock.advance", ["seconds": 86_400])
            let events = try ledger.audit()
            let head = try ledger.ok("verify")
            #expect(events.last?["hash"] == head["head_hash"])

            let stamps = events.compactMap { $0["ts"]?.string }
            #expect(stamps == stamps.sorted(), "event ts never decreases")
            let directory = try TemporaryDirectory(prefix: "tl-chain-")
            let export = directory.path + "/export.ndjson"
            try (events.map(\.line).joined(separator: "\n") + "\n").write(
                toFile: export, atomically: true, encoding: .utf8)
            let result = try runProcess(try #require(findExecutable("python3")), ["-c", Self.rederive, export])
            #expect(result.termination == .exited(0), "\(result.stdout)\(result.stderr)")
        }
    }
}
