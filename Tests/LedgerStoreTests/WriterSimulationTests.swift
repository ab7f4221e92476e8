import Foundation
import LedgerCore
import LedgerJSON
import LedgerMemoryStore
import LedgerProtocol
import Testing

@testable import LedgerStore

/// Deterministic simulation of the writer (issue 5, item 8). For each seed, one RNG drives a
/// short history of batches (the money generator's requests plus team, user and pod set-up,
/// retries of unanswered keyed requests, and wall time passing with idle ticks) against the
/// engine on the in-memory storage, and injects faults at random steps:
///
/// - a failed commit (one batch), a failed key lookup,
/// - map full: either the storage grows and retries inside the commit (LMDB below its maximum
///   size: invisible to the engine), or the maximum is reached and the commit throws,
/// - disk full for a run of steps: every commit fails until it clears, ticks included,
/// - a crash before the commit (decided, never stored, never answered) or after it (stored,
///   never answered): the engine is dropped, a new one is built on what the storage holds, and
///   the client retries every unanswered keyed request with the same key and payload.
///
/// After every step: a batch is answered `unavailable` whole or not at all, and then nothing
/// was appended, the state and the manual clock are as before; the new events open through the
/// hash chain with gap-free seqs; the log folded incrementally equals the live state (replay
/// equals live); every acknowledged request's event is at its seq with its key and type; a key's
/// events are one run from one commit (a retry never appends twice); a retry answers
/// `duplicate` exactly when its key is in the log, with the original seq; no limit is passed by a
/// checked consume or hold (daily limits, allocation, `pause` budgets, the pool: no overdraft);
/// and tokens are conserved per team and per bucket (the `Shadow` identity of
/// `MoneyPropertyTests`, derived from the log alone). A failed commit or lookup is recovered
/// without a refold: the engine rolls the batch back in memory, and the storage sees no scan of
/// the log meanwhile (issue 13, item 4). At the end a fresh engine folded from the log equals the
/// live one.
///
/// `SIM_SEEDS=N` runs seeds 1...N (default 10,000, spread over a few shards that run in
/// parallel); `SIM_SEED=N` runs that seed alone and prints its trace. A failure names its seed.
@Suite struct WriterSimulationTests {
    static let shards = 4

    @Test(arguments: 0..<WriterSimulationTests.shards)
    func seededHistoriesWithFaultsAndCrashes_keepEveryInvariant(shard: Int) throws {
        let env = ProcessInfo.processInfo.environment
        if let one = env["SIM_SEED"].flatMap(UInt64.init) {
            guard shard == 0 else { return }
            let sim = WriterSimulation(seed: one)
            let problems = sim.run()
            print(sim.trace.joined(separator: "\n"))
            for p in problems { Issue.record("SIM_SEED=\(one): \(p)") }
            return
        }
        let count = env["SIM_SEEDS"].flatMap(UInt64.init) ?? 10_000
        var failures = 0
        for seed in stride(from: UInt64(shard) + 1, through: count, by: Self.shards) {
            let sim = WriterSimulation(seed: seed)
            let problems = sim.run()
            guard !problems.isEmpty else { continue }
            failures += 1
            Issue.record(
                """
                seed \(seed) failed (replay: SIM_SEED=\(seed) swift test --skip-build --filter WriterSimulationTests):
                \(problems.prefix(5).joined(separator: "\n"))
                last steps:
                \(sim.trace.suffix(12).joined(separator: "\n"))
                """)
            if failures >= 3 { return }
        }
    }

    /// A commit that fails must leave the manual clock where it was: `clock.advance` answered
    /// `unavailable` and then retried would otherwise move time twice (found by the simulation).
    @Test func execute_whenCommitFails_aClockAdvanceInTheBatchDoesNotMoveTheClock() throws {
        let h = try EngineHarness(.memory, faultable: true)
        h.setUpAcme()
        let before = h.clock.now()
        h.faults.failCommits = true
        let answers = h.run([
            #"{"op":"consume","team":"acme","user":"ann","model":"m","cost":7,"key":"c1"}"#,
            #"{"op":"clock.advance","seconds":3600}"#,
        ])
        #expect(answers.map(\.code) == [.unavailable, .unavailable])
        #expect(h.clock.now() == before)
        h.faults.failCommits = false
        let retried = h.run([#"{"op":"clock.advance","seconds":3600}"#])
        #expect(retried[0].code == nil)
        #expect(h.clock.now() == before.adding(seconds: 3600))
    }

    /// Every failed commit and lookup of the simulation is recovered without a refold (each seed
    /// checks it; this counts that the seeds do fail commits, lookups and ticks).
    @Test func seededHistories_recoverFailedCommitsWithoutARefold() throws {
        var rollbacks = 0
        var tickRollbacks = 0
        for seed in UInt64(1)...300 {
            let sim = WriterSimulation(seed: seed)
            let problems = sim.run()
            for p in problems.prefix(3) { Issue.record("seed \(seed): \(p)") }
            rollbacks += sim.rollbacks.batches
            tickRollbacks += sim.rollbacks.ticks
        }
        #expect(rollbacks >= 100, "\(rollbacks) failed batches rolled back")
        #expect(tickRollbacks >= 1, "\(tickRollbacks) failed ticks rolled back")
    }
}

/// One seeded run. Reference type so that the trace survives a failure for printing.
final class WriterSimulation {
    let seed: UInt64
    private(set) var trace: [String] = []
    private var problems: [String] = []

    private var rng: SplitMix64
    private var gen: MoneyHistoryGenerator
    private let storage: InMemoryLogStorage
    private let clock = ManualClock(at: Instant(rfc3339: "2026-03-10T09:00:00.000Z")!)
    private let config: EngineConfig
    private var engine: LedgerEngine!
    private lazy var snapshotter = Snapshotter(storage: storage, policy: SnapshotPolicy(), logger: quietLogger)

    // What the log says, folded incrementally from the storage.
    private var folded = LedgerState()
    private var foldedHash = HashChain.genesis
    private var shadow = Shadow()
    private var eventTypes: [String] = []
    private var eventKeys: [String?] = []
    /// Seqs of each key's events: one run, appended by one commit.
    private var keyRuns: [String: ClosedRange<UInt64>] = [:]

    /// Requests acknowledged `ok` with an appending op: (seq, key, op).
    private var acked: [(seq: UInt64, key: String?, op: String)] = []
    /// Keyed requests sent but never answered (or answered `unavailable`): the client retries them.
    private var unanswered: [(op: String, line: String)] = []
    private var diskFullSteps = 0
    private var extraKeys = 0
    private var extraTeams = 0
    private var stats = (steps: 0, faults: 0, crashes: 0, retries: 0)
    /// Failures recovered in memory (batches: commit or lookup; ticks), each checked scan-free.
    private(set) var rollbacks = (batches: 0, ticks: 0)

    /// The money generator's preamble, committed and folded once: every seed starts from a copy.
    private struct Start {
        var storage: InMemoryLogStorage
        var folded: LedgerState
        var hash: [UInt8]
        var shadow: Shadow
        var types: [String]
        var keys: [String?]
    }

    private static let start: Start = {
        let sim = WriterSimulation(seed: 0, storage: InMemoryLogStorage())
        let engine = try! LedgerEngine(storage: sim.storage, clock: sim.clock, config: sim.config, logger: quietLogger)
        let answers = engine.execute(MoneyHistoryGenerator.preamble.map(parsed))
        precondition(answers.allSatisfy { $0.code == nil }, "preamble refused: \(answers)")
        sim.fold()
        precondition(sim.problems.isEmpty, "preamble: \(sim.problems)")
        return Start(
            storage: sim.storage, folded: sim.folded, hash: sim.foldedHash, shadow: sim.shadow, types: sim.eventTypes,
            keys: sim.eventKeys)
    }()

    convenience init(seed: UInt64) {
        let s = Self.start
        self.init(seed: seed, storage: InMemoryLogStorage(copying: s.storage))
        folded = s.folded
        foldedHash = s.hash
        shadow = s.shadow
        eventTypes = s.types
        eventKeys = s.keys
    }

    private init(seed: UInt64, storage: InMemoryLogStorage) {
        self.storage = storage
        self.seed = seed
        rng = SplitMix64(state: seed &* 0x9E37_79B9_7F4A_7C15 ^ 0x5151_7EAD)
        gen = MoneyHistoryGenerator(seed: seed)
        var c = EngineConfig()
        c.keyRetentionDays = 100_000  // no key expires within a run: every retry must dedupe
        config = c
    }

    static let appendingOps: [String: String] = [
        "consume": "consumed", "topup": "topup", "bonus.grant": "bonus_granted", "hold": "hold_placed",
        "hold.commit": "hold_committed", "hold.release": "hold_released", "reverse": "reversed",
        "team.configure": "team_configured", "user.assign": "user_assigned", "reset": "daily_reset",
        "team.resume": "team_resumed", "team.create": "team_created", "user.add": "user_added",
        "pod.create": "pod_created", "user.remove": "user_removed", "pod.archive": "pod_archived",
    ]

    private func issue(_ s: String) {
        problems.append(s)
        trace.append("  !! \(s)")
    }

    // MARK: - The run

    /// Runs the seed; returns the broken invariants (empty when all held).
    func run() -> [String] {
        do {
            engine = try LedgerEngine(storage: storage, clock: clock, config: config, logger: quietLogger)
            checkLive("at the start")
            let steps = int(3...8)
            for _ in 0..<steps where problems.isEmpty {
                stats.steps += 1
                try step()
            }
            // Faults clear; the client retries what is still unanswered.
            storage.failCommits = false
            diskFullSteps = 0
            if problems.isEmpty && !unanswered.isEmpty { try batch(fault: .none) }
            // A fresh engine costs a fold of the whole log; the incremental fold already compared
            // replay with live after every step (failed commits included), and every crash rebuilt
            // the state from the log, so one seed in four is enough for the engine's own start path.
            if problems.isEmpty { try finalChecks(freshEngine: seed % 4 == 0) }
        } catch {
            issue("threw: \(error)")
        }
        trace.append(
            "seed \(seed): \(stats.steps) steps, \(stats.faults) faults, \(stats.crashes) crashes, \(stats.retries) retries, head \(folded.head)"
        )
        return problems
    }

    enum Fault: String {
        case none, commitFails, mapFullGrows, mapFullMax, diskFull, lookupFails, crashBeforeCommit, crashAfterCommit
    }

    private func step() throws {
        if chance(15) { try snapshotStep() }
        if diskFullSteps > 0 {
            diskFullSteps -= 1
            if diskFullSteps == 0 {
                storage.failCommits = false
                trace.append("disk full clears")
            }
        }
        let roll = int(0...99)
        if roll < 8 {
            try idleTick()
            return
        }
        var fault = Fault.none
        switch roll {
        case 8..<15: fault = .commitFails
        case 15..<19: fault = .mapFullGrows
        case 19..<22: fault = .mapFullMax
        case 22..<26: fault = .diskFull
        case 26..<29: fault = .lookupFails
        case 29..<34: fault = .crashBeforeCommit
        case 34..<39: fault = .crashAfterCommit
        default: break
        }
        if fault == .diskFull {
            diskFullSteps = int(1...4)
            storage.failCommits = true
            trace.append("disk full for \(diskFullSteps) steps")
        }
        try batch(fault: fault)
    }

    /// Wall time passes with no request; the idle writer ticks (scheduler events only).
    private func idleTick() throws {
        let seconds = Int64(pick([int(1...3600), int(3600...90_000), 86_400 * int(1...3)]))
        clock.set(clock.now().adding(seconds: seconds))
        let before = engine.state
        let hashBefore = engine.headHash
        let failedBefore = storage.failedCommits
        let headBefore = folded.head
        let scansBefore = storage.scans
        do {
            let n = try engine.tick()
            trace.append("tick +\(seconds)s: \(n) appended")
        } catch {
            trace.append("tick +\(seconds)s: failed (\(error))")
            rollbacks.ticks += 1
            checkRecoveredWithoutRefold(scans: storage.scans - scansBefore, "a failed tick")
            if storage.failedCommits == failedBefore { issue("tick threw without a failed commit: \(error)") }
            if engine.state != before || engine.headHash != hashBefore { issue("a failed tick changed the state") }
        }
        fold()
        if storage.failedCommits > failedBefore && folded.head != headBefore {
            issue("a failed tick appended \(folded.head - headBefore) events")
        }
        checkLive("tick")
    }

    private func batch(fault: Fault) throws {
        // The client first retries what went unanswered, then sends new requests.
        var lines: [(op: String, line: String)] = []
        if !unanswered.isEmpty && (fault == .none || chance(50)) {
            lines = unanswered
            unanswered = []
            stats.retries += lines.count
        }
        var now = clock.now()
        for _ in 0..<int(1...5) {
            lines.append(chance(15) ? setupLine() : gen.nextLine(state: engine.state, now: &now))
        }
        let requests = lines.map { parsed($0.line) }

        let stateBefore = engine.state
        let hashBefore = engine.headHash
        let clockBefore = clock.now()
        let headBefore = folded.head
        let failedBefore = storage.failedCommits
        let scansBefore = storage.scans
        let keysBefore = Set(requests.compactMap(\.key).filter { keyRuns[$0] != nil })
        switch fault {
        case .commitFails, .crashBeforeCommit: storage.failCommits = true
        case .mapFullGrows: storage.mapFull(attempts: int(1...2), grows: true)
        case .mapFullMax: storage.mapFull(attempts: 1, grows: false)
        case .lookupFails: storage.failLookups = true
        case .none, .diskFull, .crashAfterCommit: break
        }
        let answers = engine.execute(requests)
        let scans = storage.scans - scansBefore
        if fault == .commitFails || fault == .crashBeforeCommit { storage.failCommits = diskFullSteps > 0 }
        storage.failLookups = false
        storage.mapFull(attempts: 0, grows: false)
        let commitFailed = storage.failedCommits > failedBefore
        if commitFailed || fault == .lookupFails {
            rollbacks.batches += 1
            checkRecoveredWithoutRefold(scans: scans, "a failed \(commitFailed ? "commit" : "lookup")")
        }
        stats.faults += fault == .none ? 0 : 1
        trace.append(
            "batch [\(fault.rawValue)\(diskFullSteps > 0 ? ", disk full" : "")] "
                + "\(lines.map(\.line).joined(separator: " ")) → "
                + (commitFailed ? "commit failed" : answers.map { $0.code?.rawValue ?? "ok" }.joined(separator: ",")))

        guard answers.count == requests.count else {
            issue("\(answers.count) answers for \(requests.count) requests")
            return
        }
        fold()

        if fault == .crashBeforeCommit || fault == .crashAfterCommit {
            // Nothing was answered: the client retries every keyed request of the batch.
            unanswered += lines.filter { parsed($0.line).key != nil }
            try crash(fault, headBefore: headBefore)
            return
        }

        let unavailable = answers.filter { $0.code == .unavailable }.count
        if commitFailed || fault == .lookupFails {
            if unavailable != answers.count {
                issue("a failed commit answered \(answers.count - unavailable) requests")
            }
        } else if unavailable > 0 {
            issue("\(unavailable) answered unavailable with no fault")
        }
        if unavailable > 0 {
            if unavailable != answers.count { issue("only \(unavailable) of \(answers.count) answered unavailable") }
            if folded.head != headBefore { issue("an unavailable batch appended \(folded.head - headBefore) events") }
            if engine.state != stateBefore || engine.headHash != hashBefore {
                issue("an unavailable batch left the state changed")
            }
            if clock.now() != clockBefore {
                issue("an unavailable batch moved the clock from \(clockBefore) to \(clock.now())")
            }
            unanswered += lines.filter { parsed($0.line).key != nil }
            checkLive("after an unavailable batch")
            return
        }

        // Every answer against the log.
        var ackedKeys: Set<String> = []
        for ((op, line), (request, answer)) in zip(lines, zip(requests, answers)) {
            let at = "\(line) → \(answer)"
            if answer.code == .internal || answer.code == .conflict { issue("unexpected \(answer.code!) at \(at)") }
            let limitCodes: [ErrorCode] = [.insufficientTokens, .dailyLimitExceeded, .budgetExceeded]
            if op == "hold.commit" || line.contains(#""record":true"#), let code = answer.code,
                limitCodes.contains(code)
            {
                issue("a limit refused a commit or record:true at \(at)")
            }
            guard answer.code == nil, let type = Self.appendingOps[op] else { continue }
            guard let seq = answer.seq, seq >= 1, seq <= folded.head else {
                issue("acknowledged without a stored seq at \(at)")
                continue
            }
            let duplicate = answer.object?["duplicate"] == .bool(true)
            if let key = request.key {
                ackedKeys.insert(key)
                if duplicate != keysBefore.contains(key) {
                    issue(
                        "duplicate:\(duplicate) but the key was \(keysBefore.contains(key) ? "" : "not ")in the log at \(at)"
                    )
                }
                if keyRuns[key]?.lowerBound != seq {
                    issue("key \(key) answered seq \(seq), its events are \(String(describing: keyRuns[key])) at \(at)")
                }
                if !duplicate && seq <= headBefore { issue("a fresh answer names an old seq at \(at)") }
            } else if seq <= headBefore {
                issue("an unkeyed request answered an old seq at \(at)")
            }
            if eventTypes[Int(seq) - 1] != type || eventKeys[Int(seq) - 1] != request.key {
                issue("seq \(seq) is a \(eventTypes[Int(seq) - 1]) with key \(eventKeys[Int(seq) - 1] ?? "-") at \(at)")
            }
            acked.append((seq, request.key, op))
            gen.learn(op: op, seq: seq)
        }
        // Nothing keyed was stored without an answer.
        if headBefore < folded.head {
            for i in Int(headBefore)..<Int(folded.head) {
                if let k = eventKeys[i], !ackedKeys.contains(k) {
                    issue("seq \(i + 1) stored key \(k) with no ok answer")
                }
            }
        }
        checkLive("after a batch")
    }

    /// Drops the engine (and every answer of the batch); a new one starts on what the storage
    /// holds and catches up with the clock, as the daemon does at start.
    private func crash(_ fault: Fault, headBefore: UInt64) throws {
        stats.crashes += 1
        let liveBefore = engine.state
        if fault == .crashBeforeCommit && folded.head != headBefore {
            issue("the batch of a crash before its commit was stored")
        }
        engine = nil
        engine = try LedgerEngine(storage: storage, clock: clock, config: config, logger: quietLogger)
        if let f = engine.integrityFailure { issue("after the crash the log fails its check: \(f)") }
        if fault == .crashAfterCommit && engine.state != liveBefore {
            issue("the committed state did not survive the crash")
        }
        var appended = 0
        do { appended = try engine.tick() } catch { trace.append("restart tick failed: \(error)") }
        trace.append("crash (\(fault.rawValue)); restarted at seq \(engine.state.head) (\(appended) caught up)")
        fold()
        checkLive("after a restart")
    }

    // MARK: - Set-up requests the money generator does not send

    private func setupLine() -> (op: String, line: String) {
        extraKeys += 1
        let key = JSON.string("sk\(extraKeys)")
        let team = JSON.string(pick(["m0", "m1", "m2"]))
        var o: JSONObject
        let op: String
        switch int(0...9) {
        case 0..<2:
            extraTeams += 1
            op = "team.create"
            o = ["team": .string("s\(extraTeams)"), "plan": .string(pick(["solo", "tiny2", "starter"])), "key": key]
        case 2..<5:
            op = "user.add"
            o = ["team": team, "user": .string(pick(["u2", "u3"])), "daily_limit": .int(pick([-1, 300, 2500]))]
            o["key"] = key
        case 5..<7:
            op = "pod.create"
            o = ["team": team, "pod": .string(pick(["p2", "p3"])), "key": key]
        case 7..<8:
            op = "pod.archive"
            o = ["team": team, "pod": .string(pick(["p1", "p2", "p3"])), "key": key]
        default:
            op = "user.remove"
            o = ["team": team, "user": .string(pick(["u2", "u3"])), "key": key]
        }
        o["op"] = .string(op)
        return (op, CanonicalJSON.string(.object(o)))
    }

    // MARK: - Invariants

    /// Opens the new events through the hash chain and folds them into the replayed state and
    /// the `Shadow`, checking each checked consume or hold against the limits it passed.
    private func fold() {
        let chunk: [StoredEvent]
        do { chunk = try storage.events(from: folded.head + 1, limit: 100_000) } catch {
            issue("reading the log: \(error)")
            return
        }
        for stored in chunk {
            let e: Event
            do {
                let opened = try HashChain.open(
                    stored: stored.bytes, previous: foldedHash, expectedSeq: folded.head + 1)
                e = opened.0
                foldedHash = opened.1
            } catch {
                issue("seq \(stored.seq) fails the chain: \(error)")
                return
            }
            folded.apply(e)
            shadow.apply(e) { issue("seq \(e.seq) (\(e.body.type)): \($0)") }
            eventTypes.append(e.body.type)
            eventKeys.append(e.key)
            if let k = e.key {
                if let run = keyRuns[k] {
                    if run.upperBound + 1 != e.seq {
                        issue("key \(k) appended again at seq \(e.seq) (first run \(run))")
                    }
                    keyRuns[k] = run.lowerBound...e.seq
                } else {
                    keyRuns[k] = e.seq...e.seq
                }
            }
            switch e.body {
            case .consumed(let c) where !c.record: checkLimits(c.tags, seq: e.seq)
            case .holdPlaced(let h): checkLimits(h.tags, seq: e.seq)
            default: break
            }
        }
        if let last = chunk.last, last.seq != folded.head { issue("the log's last seq \(last.seq) ≠ \(folded.head)") }
    }

    /// After a checked consume or a hold: no limit it was checked against is passed.
    private func checkLimits(_ tags: UsageTags, seq: UInt64) {
        guard let t = folded.teams[tags.team] else { return issue("seq \(seq): team \(tags.team) unknown") }
        if t.dailyLimit != -1 && t.consumedToday + t.held > t.dailyLimit {
            issue("seq \(seq): team \(t.id) at \(t.consumedToday) + \(t.held) held, daily limit \(t.dailyLimit)")
        }
        if let u = t.users[tags.user] {
            if u.dailyLimit != -1 && u.consumedToday + u.held > u.dailyLimit {
                issue("seq \(seq): user \(tags.user) at \(u.consumedToday) + \(u.held), daily limit \(u.dailyLimit)")
            }
            if u.allocation != -1 && u.consumedCycle + u.held > u.allocation {
                issue("seq \(seq): user \(tags.user) at \(u.consumedCycle) + \(u.held), allocation \(u.allocation)")
            }
        }
        var budgets = [("team", t.budget)]
        if let p = tags.pod, let pod = t.pods[p] { budgets.append(("pod \(p)", pod.budget)) }
        for (name, b) in budgets where b.budget != -1 && b.action == .pause && !b.resumed {
            if b.used + b.held > b.budget {
                issue("seq \(seq): \(name) budget \(b.budget) passed: \(b.used) + \(b.held)")
            }
        }
        if t.buckets.contains(where: { $0.amount < 0 }) { issue("seq \(seq): a negative bucket \(t.buckets)") }
    }

    /// The live engine against the log: head, hash, state, and conservation per team.
    private func checkLive(_ when: String) {
        guard let head = try? storage.head() else { return issue("\(when): the storage head is unreadable") }
        if head.seq != folded.head || head.hash != foldedHash { issue("\(when): the head record differs from the log") }
        if engine.integrityFailure != nil { issue("\(when): integrity failure \(engine.integrityFailure!)") }
        if engine.logHead != LogHead(seq: folded.head, hash: foldedHash) { issue("\(when): the engine's head differs") }
        if engine.state != folded { issue("\(when): the live state differs from the log folded") }
        for (team, s) in shadow.teams {
            guard let t = engine.state.teams[team] else { return issue("\(when): team \(team) missing") }
            let buckets = Dictionary(
                uniqueKeysWithValues: t.buckets.filter { $0.amount != 0 }.map { ($0.seq, $0.amount) })
            if buckets != s.buckets.filter({ $0.value.amount != 0 }).mapValues(\.amount) {
                issue("\(when): team \(team) buckets differ from the log's")
            }
            if t.held != s.held { issue("\(when): team \(team) held \(t.held) ≠ \(s.held)") }
            if s.unlimited { continue }
            if t.overdraft != s.overdraft { issue("\(when): team \(team) overdraft \(t.overdraft) ≠ \(s.overdraft)") }
            let formula =
                s.credits - s.creditsReversed - s.consumed + s.consumptionReversed - s.held - s.lapsed - s.expired
                + s.overdraft
            if t.available != formula { issue("\(when): team \(team) available \(t.available) ≠ conserved \(formula)") }
        }
    }

    /// A failure is recovered by the engine's rollback, in memory: a fold of the log (of all of
    /// it, or of a tail) would show as a scan. The engine's reads of one event (a duplicate's
    /// original, a referenced seq) are not scans.
    private func checkRecoveredWithoutRefold(scans: Int, _ what: String) {
        if scans != 0 { issue("\(what) was recovered with \(scans) scans of the log (a refold)") }
    }

    private func finalChecks(freshEngine: Bool) throws {
        if freshEngine {
            let fresh = try LedgerEngine(storage: storage, clock: clock, config: config, logger: quietLogger)
            if fresh.integrityFailure != nil { issue("end: a fresh engine finds \(fresh.integrityFailure!)") }
            if fresh.state != engine.state || fresh.headHash != engine.headHash {
                issue("end: replay differs from live")
            }
        }
        for a in acked {
            let i = Int(a.seq) - 1
            guard i < eventTypes.count, eventTypes[i] == Self.appendingOps[a.op], eventKeys[i] == a.key else {
                issue("end: acknowledged \(a.op) seq \(a.seq) key \(a.key ?? "-") is not in the log as such")
                continue
            }
            if let k = a.key, keyRuns[k]?.lowerBound != a.seq { issue("end: key \(k) runs \(keyRuns[k]!)") }
        }
    }

    // MARK: - Snapshots (issue 13)

    /// A snapshot step between batches: write one at the head through the `Snapshotter` (as a
    /// clean stop does); or have its write fail (the log goes on, the stored ones stay); or
    /// damage the newest stored one and restart at once (the start falls back to the older one
    /// or to seq 1, and says why). Every restart after this, crashes included, starts from the
    /// newest good snapshot, and `checkLive` compares that state with the log folded from seq 1.
    private func snapshotStep() throws {
        let before = try storage.snapshots()
        switch int(0...9) {
        case 0..<6:
            snapshotter.writeFinal(engine)
            let after = try storage.snapshots()
            trace.append("snapshot at seq \(engine.state.head): stored \(after.map(\.seq))")
            if engine.state.head > 0 && after.first?.seq != engine.state.head {
                issue("a snapshot at seq \(engine.state.head) was not stored: \(after.map(\.seq))")
            }
            if after.count > 2 { issue("\(after.count) snapshots kept") }
            if chance(30) { try restartFromSnapshot(expecting: after.first?.seq ?? 0) }
        case 6..<8:
            storage.failSnapshotWrites = true
            let failedBefore = snapshotter.status.failed
            snapshotter.writeFinal(engine)
            storage.failSnapshotWrites = false
            trace.append("snapshot at seq \(engine.state.head): write fails")
            let after = try storage.snapshots()
            if after != before { issue("a failed snapshot write changed the stored ones: \(before) → \(after)") }
            if before.first?.seq != engine.state.head && engine.state.head > 0
                && snapshotter.status.failed != failedBefore + 1
            {
                issue("a failed snapshot write was not counted")
            }
        default:
            guard let newest = before.first, let good = try storage.snapshotBytes(seq: newest.seq) else { return }
            storage.tamperSnapshot(seq: newest.seq) { $0[$0.count / 3] ^= 0x20 }
            trace.append("snapshot at seq \(newest.seq) damaged")
            try restartFromSnapshot(expecting: before.dropFirst().first?.seq ?? 0)
            if !engine.lastLoad.skipped.contains(where: { $0.seq == newest.seq }) {
                issue("the damaged snapshot at seq \(newest.seq) was not reported skipped: \(engine.lastLoad)")
            }
            // Repaired, so that later steps fall back to good ones.
            storage.tamperSnapshot(seq: newest.seq) { $0 = good }
        }
    }

    /// A new engine on the storage: it must start from the snapshot at `expecting` (0: seq 1)
    /// and fold only the tail after it.
    private func restartFromSnapshot(expecting seq: UInt64) throws {
        let live = engine.state
        engine = try LedgerEngine(storage: storage, clock: clock, config: config, logger: quietLogger)
        trace.append("restart from snapshot \(engine.lastLoad.snapshotSeq), tail \(engine.lastLoad.tailEvents)")
        if engine.lastLoad.snapshotSeq != seq {
            issue("started from snapshot \(engine.lastLoad.snapshotSeq), expected \(seq)")
        }
        if engine.lastLoad.snapshotSeq + engine.lastLoad.tailEvents != engine.state.head {
            issue(
                "snapshot \(engine.lastLoad.snapshotSeq) + tail \(engine.lastLoad.tailEvents) ≠ head \(engine.state.head)"
            )
        }
        if engine.state != live { issue("a restart from a snapshot changed the state") }
        checkLive("after a restart from a snapshot")
    }

    // MARK: - Randomness

    private func int(_ r: ClosedRange<Int>) -> Int {
        r.lowerBound + Int(rng.next() % UInt64(r.upperBound - r.lowerBound + 1))
    }
    private func chance(_ percent: Int) -> Bool { int(0...99) < percent }
    private func pick<T>(_ xs: [T]) -> T { xs[int(0...(xs.count - 1))] }
}
