import LedgerCore
import LedgerJSON
import LedgerProtocol
import Testing

@testable import LedgerStore

/// Generated histories (seeded, so a failure replays exactly: every message names its seed):
/// (a) replaying the log reproduces the engine's state and head hash; (b) every accepted keyed
/// request sent again appends nothing and answers `duplicate` with its original seq; (c) tokens
/// are conserved: per team, credits − costs − lapsed allowance = available − overdraft, and the
/// overdraft is the sum of overdraft parts less what credits repaid.
@Suite struct ReplayPropertyTests {
    @Test(arguments: UInt64(1)...200)
    func generatedHistory_replaysExactlyIsIdempotentAndConservesTokens(seed: UInt64) throws {
        try Self.check(seed: seed, kind: .memory)
    }

    @Test(arguments: UInt64(1001)...1004)
    func generatedHistory_onLMDB_replaysExactlyIsIdempotentAndConservesTokens(seed: UInt64) throws {
        try Self.check(seed: seed, kind: .lmdb)
    }

    /// Runs one seed; call it directly to replay a failure.
    static func check(seed: UInt64, kind: StorageKind) throws {
        var config = EngineConfig()
        config.keyRetentionDays = 100_000  // no key expires within a history: (b) holds for all of them
        let h = try EngineHarness(kind, config: config)
        var gen = HistoryGenerator(seed: seed)
        var originals: [String: Original] = [:]
        var issues = 0

        func expect(_ ok: Bool, _ what: @autoclosure () -> String, sourceLocation: SourceLocation = #_sourceLocation) {
            guard !ok else { return }
            issues += 1
            if issues <= 5 { Issue.record("seed \(seed) (\(kind)): \(what())", sourceLocation: sourceLocation) }
        }

        h.run(HistoryGenerator.preamble)
        let commands = gen.int(50...200)
        var sent = 0
        var batchNumber = 0
        while sent < commands {
            let size = min(gen.int(1...8), commands - sent)
            var lines: [String] = []
            for _ in 0..<size { lines.append(gen.nextLine()) }
            sent += size
            batchNumber += 1
            let requests = lines.map(parsed)
            let answers = h.engine.execute(requests)
            expect(answers.count == requests.count, "batch \(batchNumber): \(answers.count) answers")
            for (i, (request, answer)) in zip(requests, answers).enumerated() {
                let where_ = "batch \(batchNumber) request \(i): \(lines[i]) → \(answer)"
                expect(answer.code != .internal && answer.code != .unavailable, "unexpected error at \(where_)")
                guard let key = request.key else {
                    expect(answer.object?["duplicate"] == nil, "duplicate without a key at \(where_)")
                    continue
                }
                if let original = originals[key] {
                    if original.digest == request.payloadDigest {
                        expect(answer.object?["duplicate"] == .bool(true), "not a duplicate at \(where_)")
                        expect(
                            answer.seq == original.seq,
                            "duplicate seq \(String(describing: answer.seq)) ≠ \(original.seq) at \(where_)")
                        if let cost = original.cost {
                            expect(answer.int("cost") == cost, "duplicate cost at \(where_)")
                        }
                    } else {
                        expect(answer.code == .conflict, "expected conflict at \(where_)")
                    }
                } else {
                    expect(
                        answer.object?["duplicate"] == nil && answer.code != .conflict, "key seen as used at \(where_)")
                    if let seq = answer.seq, answer.code == nil {
                        originals[key] = Original(
                            line: lines[i], digest: request.payloadDigest, seq: seq, cost: answer.int("cost"))
                    }
                }
            }
            expect(try h.storage.head().hash == h.engine.headHash, "batch \(batchNumber): stored head hash differs")
            if issues > 0 { return }
        }

        // (a) Replay: by hand and through a fresh engine.
        try h.expectReplayMatches("seed \(seed) (\(kind)):")

        // (c) Conservation, from the log alone, against the state.
        let events = try h.storedEvents()
        var ledgers: [ID: TeamLedger] = [:]
        for e in events {
            guard let team = e.body.team else { continue }
            var l = ledgers[team] ?? TeamLedger()
            switch e.body {
            case .cycleStarted(_, _, let allowance, _, _, let lapsed):
                if allowance == -1 {
                    l.unlimited = true
                    l.overdraft = 0
                } else {
                    l.credits += allowance
                    l.overdraft -= min(l.overdraft, allowance)
                }
                l.lapsed += lapsed
            case .topup(_, let amount, _):
                l.credits += amount
                l.overdraft -= min(l.overdraft, amount)
            case .consumed(let c):
                let drawn = c.draws.reduce(0) { $0 + $1.amount }
                if l.unlimited {
                    expect(c.draws.isEmpty && c.overdraft == 0, "seq \(e.seq): an unlimited pool drew")
                } else {
                    expect(
                        drawn + c.overdraft == c.cost,
                        "seq \(e.seq): draws \(drawn) + overdraft \(c.overdraft) ≠ cost \(c.cost)")
                }
                expect(c.record || c.overdraft == 0, "seq \(e.seq): a checked consume overdrew")
                expect(c.draws.allSatisfy { $0.amount > 0 }, "seq \(e.seq): an empty draw")
                l.costs += c.cost
                l.overdraft += c.overdraft
            default:
                break
            }
            ledgers[team] = l
        }
        for (team, l) in ledgers.sorted(by: { $0.key < $1.key }) {
            guard let t = h.engine.state.teams[team] else {
                expect(false, "team \(team) in the log but not in the state")
                continue
            }
            if l.unlimited {
                expect(
                    t.available == -1 && t.overdraft == 0,
                    "team \(team): unlimited pool shows \(t.available)/\(t.overdraft)")
                continue
            }
            expect(
                l.credits - l.costs - l.lapsed == t.available - t.overdraft,
                "team \(team): credits \(l.credits) − costs \(l.costs) − lapsed \(l.lapsed) ≠ available \(t.available) − overdraft \(t.overdraft)"
            )
            expect(
                t.overdraft == l.overdraft,
                "team \(team): overdraft \(t.overdraft), overdraft parts less repayments \(l.overdraft)")
            expect(t.buckets.allSatisfy { $0.amount >= 0 }, "team \(team): a negative bucket \(t.buckets)")
        }

        // (b) Every accepted keyed request, sent again: duplicate, original seq, nothing appended.
        let head = h.engine.state.head
        let state = h.engine.state
        var again = originals.values.sorted { $0.seq < $1.seq }
        gen.shuffle(&again)
        var start = 0
        while start < again.count {
            let size = min(gen.int(1...16), again.count - start)
            let slice = Array(again[start..<(start + size)])
            start += size
            let answers = h.engine.execute(slice.map { parsed(HistoryGenerator.withNewID($0.line)) })
            for (original, answer) in zip(slice, answers) {
                expect(answer.object?["duplicate"] == .bool(true), "repeat of \(original.line) → \(answer)")
                expect(
                    answer.seq == original.seq,
                    "repeat of \(original.line): seq \(String(describing: answer.seq)) ≠ \(original.seq)")
            }
        }
        expect(h.engine.state.head == head, "repeats appended \(h.engine.state.head - head) events")
        expect(h.engine.state == state, "repeats changed the state")
    }

    struct Original {
        var line: String
        var digest: [UInt8]
        var seq: UInt64
        var cost: Int64?
    }

    struct TeamLedger {
        var credits: Int64 = 0
        var costs: Int64 = 0
        var lapsed: Int64 = 0
        var overdraft: Int64 = 0
        var unlimited = false
    }
}

/// SplitMix64: small, fast, and the same sequence on every platform and Swift version.
struct SplitMix64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Requests of this issue's ops with random figures, keys sometimes reused with the same or
/// another payload, and the clock moved by seconds to weeks.
struct HistoryGenerator {
    var rng: SplitMix64
    var keyed: [(key: String, object: JSONObject)] = []
    var keysMade = 0
    var ids = 0

    init(seed: UInt64) { rng = SplitMix64(state: seed) }

    static let teams = ["t0", "t1", "t2"]
    static let users = ["u0", "u1", "u2", "u3"]
    static let pods = ["p0", "p1", "p2"]
    static let plans = ["solo", "starter", "pro", "enterprise", "tiny"]
    static let zones = ["UTC", "UTC", "Europe/Madrid", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"]

    static let preamble = [
        #"{"op":"plan.define","plan":"tiny","monthly_tokens":2000,"max_pods":2,"max_members":3}"#,
        #"{"op":"price.set","model":"gpt","kind":"text","input_weight":1.5,"output_weight":3}"#,
        #"{"op":"price.set","model":"img","kind":"image","base":10,"per_steps":25,"factors":{"resolution":{"1024x1024":1.5,"512x512":1}}}"#,
    ]

    mutating func int(_ r: ClosedRange<Int>) -> Int {
        r.lowerBound + Int(rng.next() % UInt64(r.upperBound - r.lowerBound + 1))
    }
    mutating func chance(_ percent: Int) -> Bool { int(0...99) < percent }
    mutating func pick<T>(_ xs: [T]) -> T { xs[int(0...(xs.count - 1))] }
    mutating func shuffle<T>(_ xs: inout [T]) {
        guard xs.count > 1 else { return }
        for i in stride(from: xs.count - 1, to: 0, by: -1) { xs.swapAt(i, int(0...i)) }
    }

    mutating func nextLine() -> String {
        ids += 1
        var o: JSONObject
        // Sometimes send a keyed request again, as it was or with another payload.
        if !keyed.isEmpty && chance(25) {
            let previous = pick(keyed)
            if chance(60) {
                o = previous.object
            } else {
                o = command(forceKeyed: true)
                o["key"] = .string(previous.key)
            }
        } else {
            o = command(forceKeyed: false)
            if o["key"] != nil { keyed.append((o["key"]!.stringValue!, o)) }
        }
        o["id"] = .int(ids)
        return CanonicalJSON.string(.object(o))
    }

    private mutating func newKey() -> JSON {
        keysMade += 1
        return .string("k\(keysMade)")
    }

    private mutating func command(forceKeyed: Bool) -> JSONObject {
        var o = JSONObject()
        let team = JSON.string(pick(Self.teams))
        let roll = int(0...99)
        switch roll {
        case 0..<8:
            o["op"] = .string("team.create")
            o["team"] = team
            o["plan"] = .string(pick(Self.plans))
            if chance(50) { o["timezone"] = .string(pick(Self.zones)) }
            if chance(50) { o["daily_limit"] = .int(pick([-1, 0, 500, 5000, 100_000])) }
            if forceKeyed || chance(50) { o["key"] = newKey() }
        case 8..<20:
            o["op"] = .string("user.add")
            o["team"] = team
            o["user"] = .string(pick(Self.users))
            if chance(50) { o["daily_limit"] = .int(pick([-1, 0, 100, 1000, 20_000])) }
            if forceKeyed || chance(50) { o["key"] = newKey() }
        case 20..<27:
            o["op"] = .string("pod.create")
            o["team"] = team
            o["pod"] = .string(pick(Self.pods))
            if forceKeyed || chance(50) { o["key"] = newKey() }
        case 27..<40:
            o["op"] = .string("topup")
            o["team"] = team
            o["amount"] = .int(pick([0, 1, int(1...500), int(1...5000), int(1000...600_000)]))
            if chance(30) { o["package"] = .string("pack") }
            o["key"] = newKey()
        case 40..<90:
            o["op"] = .string("consume")
            o["team"] = team
            o["user"] = .string(pick(Self.users))
            if chance(40) {
                o["pod"] = .string(pick(Self.pods))
                if chance(50) { o["task"] = .string("task\(int(0...4))") }
            }
            switch int(0...9) {
            case 0..<5:
                o["model"] = .string("any")
                o["cost"] = .int(pick([0, int(1...100), int(1...3000), int(1000...300_000)]))
            case 5..<8:
                o["model"] = .string("gpt")
                o["input_tokens"] = .int(int(0...3000))
                if chance(70) { o["output_tokens"] = .int(int(0...1000)) }
            default:
                o["model"] = .string("img")
                var params = JSONObject()
                if chance(70) { params["resolution"] = .string(pick(["1024x1024", "512x512"])) }
                if chance(50) { params["steps"] = .int(int(0...100)) }
                o["params"] = .object(params)
            }
            if chance(15) { o["record"] = .bool(true) }
            o["key"] = newKey()
        default:
            o["op"] = .string("clock.advance")
            let seconds: Int
            switch int(0...9) {
            case 0..<4: seconds = int(1...3600)
            case 4..<7: seconds = int(3600...86_400)
            case 7..<9: seconds = 86_400 * int(1...3)
            default: seconds = 86_400 * int(10...35)
            }
            o["seconds"] = .int(seconds)
            if forceKeyed { return command(forceKeyed: true) }
        }
        return o
    }

    /// The same request with another `id`: the same payload.
    static func withNewID(_ line: String) -> String {
        var o = try! JSONParser.parse(Array(line.utf8)).objectValue!
        o["id"] = .string("again")
        return CanonicalJSON.string(.object(o))
    }
}
