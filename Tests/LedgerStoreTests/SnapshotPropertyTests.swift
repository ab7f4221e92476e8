import LedgerMemoryStore
import LedgerProtocol
import Testing

@testable import LedgerCore
@testable import LedgerStore

/// Issue 13's property: for generated histories (the replay generator's 200 and the money
/// generator's holds, escrow across expiry, overdraft, reversals, alerts, pauses, plan changes,
/// DST zones, key pruning), a snapshot taken at random seqs, decoded and folded on with the
/// tail, is the full fold: equal as a value and byte-equal as an encoding; and an engine
/// started from it answers every read, and the writes after it, as one that folded from seq 1.
@Suite struct SnapshotPropertyTests {
    @Test(arguments: UInt64(1)...200)
    func snapshotAtRandomSeqsPlusTail_isTheFullFold_forReplayHistories(seed: UInt64) throws {
        let h = try Self.replayHistory(seed: seed)
        try Self.check(h, seed: seed, context: "replay seed \(seed)")
    }

    @Test(arguments: UInt64(1)...60)
    func snapshotAtRandomSeqsPlusTail_isTheFullFold_forMoneyHistories(seed: UInt64) throws {
        let h = try Self.moneyHistory(seed: seed, keyRetentionDays: seed % 3 == 0 ? 2 : 100_000)
        try Self.check(h, seed: seed &+ 90_000, context: "money seed \(seed)")
    }

    /// Every stored property of the state's types is written by the codec: a field added to
    /// `LedgerState` (or a type inside it) without its line in `SnapshotCodec` fails here,
    /// even before a history exercises it.
    @Test func theCodecWritesEveryStoredPropertyOfTheState() throws {
        let h = try Self.moneyHistory(seed: 3, keyRetentionDays: 100_000)
        let s = h.engine.state
        let team = try #require(s.teams.values.first { !$0.pods.isEmpty && !$0.users.isEmpty && !$0.buckets.isEmpty })
        let hold = HoldState(
            seq: 1, tags: UsageTags(team: team.id, user: team.id, model: team.id), amount: 1, draws: [],
            expiresAt: s.lastTs,
            price: nil)
        let samples: [String: Any] = [
            "LedgerState": s, "Plan": Plan.builtIn.values.first!, "PriceSpec": s.prices.values.first!,
            "TeamState": team, "Bucket": team.buckets[0], "UserState": team.users.values.first!,
            "PodState": team.pods.values.first!, "BudgetState": team.budget, "HoldState": hold,
            "UsageTags": hold.tags, "Draw": Draw(bucketSeq: 1, amount: 1), "LocalDay": team.today,
            "Instant": s.lastTs, "ID": team.id, "ZoneCalendar": team.zone,
        ]
        #expect(Set(samples.keys) == Set(SnapshotCodec.fieldsWritten.keys), "every encoded type has a sample")
        for (name, value) in samples.sorted(by: { $0.key < $1.key }) {
            let stored = Mirror(reflecting: value).children.compactMap(\.label)
            #expect(
                stored == SnapshotCodec.fieldsWritten[name],
                "\(name) has stored properties \(stored); the snapshot codec writes \(SnapshotCodec.fieldsWritten[name] ?? [])"
            )
        }
    }

    @Test func aDamagedBlob_isRefusedWithAReason_neverATrap() throws {
        let h = try Self.moneyHistory(seed: 5, keyRetentionDays: 100_000)
        let bytes = SnapshotCodec.encode(Snapshot(state: h.engine.state, headHash: h.engine.headHash))
        #expect(throws: SnapshotError.digestMismatch) {
            var b = bytes
            b[b.count / 2] ^= 0x01
            _ = try SnapshotCodec.decode(b)
        }
        #expect(throws: SnapshotError.badMagic) {
            var b = bytes
            b[0] ^= 0x01
            _ = try SnapshotCodec.decode(b)
        }
        // A whole blob of another format version (a newer build's) is refused as such.
        var other = Array(bytes.dropLast(32))
        other[6] &+= 1
        other += SnapshotCodec.sha256(other[...])
        #expect(throws: SnapshotError.unknownVersion(SnapshotCodec.version &+ 1)) {
            _ = try SnapshotCodec.decode(other)
        }
        // Every prefix (cut short mid-write) is refused by size, digest or bounds.
        for n in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 97)) {
            #expect(throws: SnapshotError.self) { _ = try SnapshotCodec.decode(Array(bytes[0..<n])) }
        }
    }

    // MARK: - The check

    static func check(_ h: EngineHarness, seed: UInt64, context: String) throws {
        let events = try h.storedEvents()
        let n = events.count
        try #require(n >= 2, "\(context): a history of \(n) events")
        var full = LedgerState()
        var fullHash = HashChain.genesis
        var states: [UInt64: Snapshot] = [:]
        var rng = SplitMix64(state: seed)
        var cuts: Set<UInt64> = [1, UInt64(n)]
        for _ in 0..<3 { cuts.insert(1 + rng.next() % UInt64(n)) }
        let stored = try h.storage.events(from: 1, limit: n)
        for (e, s) in zip(events, stored) {
            full.apply(e)
            fullHash = try HashChain.open(stored: s.bytes, previous: fullHash, expectedSeq: e.seq).hash
            if cuts.contains(e.seq) { states[e.seq] = Snapshot(state: full, headHash: fullHash) }
        }
        let fullBytes = SnapshotCodec.encode(Snapshot(state: full, headHash: fullHash))
        let foldIsLive = full == h.engine.state
        #expect(foldIsLive, "\(context): the fold is the engine's state")

        for k in cuts.sorted() {
            let at = "\(context), snapshot at seq \(k) of \(n)"
            let taken = states[k]!
            let bytes = SnapshotCodec.encode(taken)
            let deterministic = bytes == SnapshotCodec.encode(taken)
            #expect(deterministic, "\(at): encoding is deterministic")
            let decoded = try SnapshotCodec.decode(bytes)
            let roundTrips = decoded == taken
            #expect(roundTrips, "\(at): decode(encode(s)) == s")
            var s = decoded.state
            for e in events[Int(k)...] { s.apply(e) }
            let tailIsFull = s == full
            #expect(tailIsFull, "\(at): snapshot + tail == full fold")
            let byteEqual = SnapshotCodec.encode(Snapshot(state: s, headHash: fullHash)) == fullBytes
            #expect(byteEqual, "\(at): snapshot + tail encodes byte-equal to the full fold")

            // Engines: one from seq 1, one from the snapshot; same reads, same next writes.
            let fromGenesis = InMemoryLogStorage(copying: h.faults)
            let fromSnapshot = InMemoryLogStorage(copying: h.faults)
            try fromSnapshot.storeSnapshot(seq: k, bytes: bytes, writtenAtMs: 0)
            let clockA = ManualClock(at: h.clock.now())
            let clockB = ManualClock(at: h.clock.now())
            let a = try LedgerEngine(storage: fromGenesis, clock: clockA, config: h.config, logger: quietLogger)
            let b = try LedgerEngine(storage: fromSnapshot, clock: clockB, config: h.config, logger: quietLogger)
            #expect(b.lastLoad.snapshotSeq == k && b.lastLoad.tailEvents == UInt64(n) - k, "\(at): \(b.lastLoad)")
            #expect(a.lastLoad.snapshotSeq == 0)
            let sameLoad = b.state == a.state && b.headHash == a.headHash
            #expect(sameLoad, "\(at): engines differ after load")
            #expect(b.integrityFailure == nil, "\(at): \(String(describing: b.integrityFailure))")
            let reads = readLines(a.state)
            let readsA = a.execute(reads.map(parsed)).map { "\($0)" }
            let readsB = b.execute(reads.map(parsed)).map { "\($0)" }
            let sameReads = readsA == readsB
            #expect(
                sameReads,
                "\(at): reads answer differently: \(zip(readsA, readsB).first { $0 != $1 }.map { "\($0) vs \($1)" } ?? "")"
            )
            // Time moves past midnights, expiries and a cycle end; then a write on each team.
            var next = [#"{"op":"clock.advance","seconds":3000000}"#]
            for t in a.state.teams.keys.sorted() {
                next.append(#"{"op":"consume","team":"\#(t)","user":"u0","model":"any","cost":7,"key":"snapc-\#(t)"}"#)
                next.append(#"{"op":"topup","team":"\#(t)","amount":11,"key":"snap-\#(t)"}"#)
            }
            let writesA = a.execute(next.map(parsed)).map { "\($0)" }
            let writesB = b.execute(next.map(parsed)).map { "\($0)" }
            let sameWrites = writesA == writesB
            #expect(sameWrites, "\(at): writes after the snapshot answer differently")
            let sameAfter = b.state == a.state && b.headHash == a.headHash
            #expect(sameAfter, "\(at): engines differ after more writes")
        }
    }

    /// balance (team, each user), check and estimate: the reads the write side answers.
    static func readLines(_ s: LedgerState) -> [String] {
        var lines: [String] = []
        for (tid, t) in s.teams.sorted(by: { $0.key < $1.key }) {
            lines.append(#"{"op":"balance","team":"\#(tid)"}"#)
            for (uid, u) in t.users.sorted(by: { $0.key < $1.key }) where !u.removed {
                lines.append(#"{"op":"balance","team":"\#(tid)","user":"\#(uid)"}"#)
                lines.append(#"{"op":"check","team":"\#(tid)","user":"\#(uid)","model":"any","cost":50}"#)
                for pid in t.pods.keys.sorted() {
                    lines.append(
                        #"{"op":"check","team":"\#(tid)","user":"\#(uid)","pod":"\#(pid)","task":"task1","model":"any","cost":3}"#
                    )
                }
            }
        }
        for model in s.prices.keys.sorted() {
            lines.append(#"{"op":"estimate","model":"\#(model)","input_tokens":100,"output_tokens":10}"#)
        }
        return lines
    }

    // MARK: - Histories

    static func replayHistory(seed: UInt64) throws -> EngineHarness {
        var config = EngineConfig()
        config.keyRetentionDays = seed % 4 == 0 ? 3 : 100_000
        let h = try EngineHarness(.memory, config: config)
        var gen = HistoryGenerator(seed: seed)
        h.run(HistoryGenerator.preamble)
        let commands = gen.int(50...200)
        var sent = 0
        while sent < commands {
            let size = min(gen.int(1...8), commands - sent)
            var lines: [String] = []
            for _ in 0..<size { lines.append(gen.nextLine()) }
            sent += size
            h.run(lines)
        }
        return h
    }

    /// What the money generator does not send: pauses and resumes, archived pods, removed
    /// users, manual resets, alert levels, plan changes, more tasks.
    static func extraLine(_ rng: inout SplitMix64, n: Int) -> String {
        func pick(_ xs: [String]) -> String { xs[Int(rng.next() % UInt64(xs.count))] }
        let t = pick(MoneyHistoryGenerator.teams)
        let p = pick(["p0", "p1"])
        let key = "x\(n)-\(rng.next() % 1_000_000)"
        switch rng.next() % 10 {
        case 0: return #"{"op":"pod.archive","team":"\#(t)","pod":"\#(p)","key":"\#(key)"}"#
        case 1:
            return
                #"{"op":"pod.configure","team":"\#(t)","pod":"\#(p)","budget":\#(rng.next() % 400),"budget_action":"\#(pick(["pause", "alert", "block_new_tasks"]))"}"#
        case 2:
            return
                #"{"op":"team.configure","team":"\#(t)","monthly_budget":\#(rng.next() % 3000),"budget_action":"pause","alert_at":[10,50,100]}"#
        case 3: return #"{"op":"team.resume","team":"\#(t)"}"#
        case 4: return #"{"op":"pod.resume","team":"\#(t)","pod":"\#(p)"}"#
        case 5: return #"{"op":"reset","team":"\#(t)"\#(rng.next() % 2 == 0 ? #","user":"u0""# : "")}"#
        case 6: return #"{"op":"user.remove","team":"\#(t)","user":"u1","key":"\#(key)"}"#
        case 7: return #"{"op":"team.configure","team":"\#(t)","plan":"\#(pick(["mid", "tiny2", "pro"]))"}"#
        default:
            // A task without a pod belongs to the team (`TeamState.tasks`, issue 12).
            return
                #"{"op":"consume","team":"\#(t)","user":"u0","task":"loose\#(rng.next() % 3)","model":"any","cost":\#(rng.next() % 50),"key":"\#(key)"}"#
        }
    }

    static func moneyHistory(seed: UInt64, keyRetentionDays: Int64) throws -> EngineHarness {
        var config = EngineConfig()
        config.keyRetentionDays = keyRetentionDays
        let h = try EngineHarness(.memory, config: config)
        var gen = MoneyHistoryGenerator(seed: seed)
        var extras = SplitMix64(state: seed ^ 0xA5A5)
        h.run(MoneyHistoryGenerator.preamble)
        let commands = gen.int(60...180)
        var sent = 0
        while sent < commands {
            let size = min(gen.int(1...6), commands - sent)
            var lines: [(op: String, line: String)] = []
            var now = h.clock.now()
            for _ in 0..<size { lines.append(gen.nextLine(state: h.engine.state, now: &now)) }
            if extras.next() % 3 == 0 { lines.append(("extra", extraLine(&extras, n: sent))) }
            sent += size
            let answers = h.engine.execute(lines.map { parsed($0.line) })
            for ((op, _), answer) in zip(lines, answers) where answer.code == nil {
                if let seq = answer.seq { gen.learn(op: op, seq: seq) }
            }
        }
        return h
    }
}
