import LedgerCore
import LedgerJSON
import LedgerMemoryStore
import LedgerProtocol
import Testing

@testable import LedgerStore

/// A failed commit or key lookup rolls the batch back in memory (issue 13, item 4), and the engine
/// is then exactly what a fold of the durable log gives. Generated histories (seeded: a failure
/// names its seed) mix the money generator's requests (holds, escrow across expiry, overdraft,
/// reversals, budgets and alerts, clock moves onto midnights, cycle ends and expiries), the replay
/// generator's set-up (teams in DST zones, users, pods, reused keys) and catalog changes (plans,
/// prices), and fail commits (refused, map at its maximum) and lookups at random batches and
/// ticks. Two engines see the same traffic: the faulted one, and a reference that is never
/// faulted and never sees a failed batch (a failed batch must change nothing). After every
/// failure the faulted engine equals a fresh engine folded from its storage (state, head hash)
/// and the reference (also in what the scheduler has due next), without a scan of the log; after
/// every batch the two answer alike, byte for byte, and the fresh engine answers the next batch
/// alike too.
@Suite struct RollbackPropertyTests {
    @Test(arguments: UInt64(1)...200)
    func generatedHistory_whenCommitsAndLookupsFail_rollsBackToTheFoldOfTheLog(seed: UInt64) throws {
        let run = try RollbackRun(seed: seed)
        let problems = try run.run()
        for p in problems.prefix(5) { Issue.record("seed \(seed): \(p)") }
        if !problems.isEmpty {
            Issue.record("seed \(seed) last steps:\n\(run.trace.suffix(8).joined(separator: "\n"))")
        }
        #expect(problems.isEmpty || run.rollbacks > 0)
    }

    /// The generated histories do roll back batches of every kind; counted over a few seeds so
    /// that a generator change that stops faulting shows.
    @Test func generatedHistories_rollBackBatchesAndTicks() throws {
        var batches = 0
        var ticks = 0
        for seed in UInt64(1)...20 {
            let run = try RollbackRun(seed: seed)
            _ = try run.run()
            batches += run.rollbacks
            ticks += run.tickRollbacks
        }
        #expect(batches >= 40, "\(batches) batches rolled back")
        #expect(ticks >= 2, "\(ticks) ticks rolled back")
    }

    /// One batch that touches every kind of before-image: a new team and existing ones, a hold
    /// placed and one committed, a reversal, a plan and a price both new and redefined, and a clock
    /// move across midnight and a hold's expiry (scheduler events, its cursor). The commit fails;
    /// the same batch then succeeds and answers as it would have the first time.
    @Test func execute_whenABatchTouchingEveryKindFailsToCommit_rollsBackWithoutAScan() throws {
        let h = try EngineHarness(.memory, faultable: true)
        h.setUpAcme()
        let held = h.run([
            #"{"op":"topup","team":"acme","amount":1000,"key":"t1"}"#,
            #"{"op":"hold","team":"acme","user":"ann","model":"m","amount":50,"ttl_seconds":3600,"key":"h1"}"#,
            #"{"op":"hold","team":"acme","user":"ann","model":"m","amount":70,"ttl_seconds":7200,"key":"h2"}"#,
            #"{"op":"consume","team":"acme","user":"ann","model":"m","cost":30,"key":"c1"}"#,
            #"{"op":"plan.define","plan":"tiny","monthly_tokens":2000,"max_pods":2,"max_members":3}"#,
            #"{"op":"price.set","model":"gpt","kind":"text","input_weight":1,"output_weight":2}"#,
        ])
        #expect(held.allSatisfy { $0.code == nil }, "\(held)")
        let batch = [
            #"{"op":"team.create","team":"beta","plan":"tiny","timezone":"Europe/Madrid","key":"b1"}"#,
            #"{"op":"hold.commit","hold":\#(held[1].seq!),"cost":20,"key":"hc"}"#,
            #"{"op":"reverse","seq":\#(held[3].seq!),"reason":"r","key":"rv"}"#,
            #"{"op":"plan.define","plan":"tiny","monthly_tokens":3000,"max_pods":2,"max_members":3}"#,
            #"{"op":"plan.define","plan":"huge","monthly_tokens":90000,"max_pods":9,"max_members":9}"#,
            #"{"op":"price.set","model":"gpt","kind":"text","input_weight":2,"output_weight":2}"#,
            #"{"op":"price.set","model":"img","kind":"image","base":10,"per_steps":25}"#,
            #"{"op":"clock.advance","seconds":86400}"#,
            #"{"op":"consume","team":"acme","user":"ann","model":"gpt","input_tokens":5,"key":"c2"}"#,
        ]
        let state = h.engine.state
        let hash = h.engine.headHash
        let due = h.engine.nextDue()
        let clock = h.clock.now()
        let scans = h.faults.scans
        h.faults.failCommits = true
        #expect(h.run(batch).allSatisfy { $0.code == .unavailable })
        #expect(h.faults.scans == scans, "the failed commit was recovered by a scan of the log")
        #expect(h.engine.state == state)
        #expect(h.engine.headHash == hash)
        #expect(h.engine.nextDue() == due)
        #expect(h.clock.now() == clock)

        // The batch again, on this engine and on one folded from the log: the same answers.
        h.faults.failCommits = false
        let copy = InMemoryLogStorage(copying: h.faults)
        let fresh = try LedgerEngine(
            storage: copy, clock: ManualClock(at: h.clock.now()), config: h.config, logger: quietLogger)
        let again = h.run(batch)
        let expected = fresh.execute(batch.map(parsed))
        #expect(again.map(RollbackRun.summary) == expected.map(RollbackRun.summary))
        #expect(again.filter { $0.code != nil }.isEmpty, "\(again)")
        #expect(h.engine.state == fresh.state)
        try h.expectReplayMatches()
    }

    /// The catalog of a first start whose commit fails leaves an empty engine, which can bootstrap
    /// again.
    @Test func bootstrap_whenItsCommitFails_leavesTheEngineEmptyAndCanBeRetried() throws {
        let h = try EngineHarness(.memory, faultable: true)
        let spec = PriceSpec(model: id("gpt"), kind: .text)
        h.faults.failCommits = true
        #expect(throws: (any Error).self) { try h.engine.bootstrap(catalog: [spec]) }
        #expect(h.engine.state == LedgerState())
        #expect(h.engine.headHash == HashChain.genesis)
        h.faults.failCommits = false
        try h.engine.bootstrap(catalog: [spec])
        #expect(h.engine.state.prices[id("gpt")] != nil)
        try h.expectReplayMatches()
    }
}

/// One seeded history against a faulted engine and a reference engine.
final class RollbackRun {
    let seed: UInt64
    private(set) var trace: [String] = []
    private(set) var rollbacks = 0
    private(set) var tickRollbacks = 0
    private var problems: [String] = []

    private var rng: SplitMix64
    private var money: MoneyHistoryGenerator
    private var setup: HistoryGenerator
    private let config: EngineConfig
    private let start = Instant(rfc3339: "2026-03-10T09:00:00.000Z")!
    private let storage = InMemoryLogStorage()
    private let clock: ManualClock
    private let engine: LedgerEngine
    private let referenceStorage = InMemoryLogStorage()
    private let referenceClock: ManualClock
    private let reference: LedgerEngine
    /// Folded from the log after the last failure; answers the next batch beside the others.
    private var fresh: LedgerEngine?

    init(seed: UInt64) throws {
        self.seed = seed
        rng = SplitMix64(state: seed &* 0xD1B5_4A32_D192_ED03)
        money = MoneyHistoryGenerator(seed: seed)
        setup = HistoryGenerator(seed: seed)
        var c = EngineConfig()
        c.keyRetentionDays = 100_000
        config = c
        clock = ManualClock(at: start)
        referenceClock = ManualClock(at: start)
        engine = try LedgerEngine(storage: storage, clock: clock, config: config, logger: quietLogger)
        reference = try LedgerEngine(
            storage: referenceStorage, clock: referenceClock, config: config, logger: quietLogger)
    }

    private func issue(_ s: String) {
        problems.append(s)
        trace.append("  !! \(s)")
    }

    /// An answer as comparable text: the bytes of a success, the code and message of a refusal.
    static func summary(_ a: EngineAnswer) -> String {
        switch a {
        case .success(let answer): CanonicalJSON.string(.object(answer.object))
        case .failure(let r): "\(r.code.rawValue): \(r.message) \(r.scope?.rawValue ?? "") \(r.seq ?? 0)"
        }
    }

    func run() throws -> [String] {
        let preamble = (MoneyHistoryGenerator.preamble + HistoryGenerator.preamble).map(parsed)
        let a = engine.execute(preamble)
        let b = reference.execute(preamble)
        if !a.allSatisfy({ $0.code == nil }) || a.map(Self.summary) != b.map(Self.summary) {
            issue("preamble: \(a)")
        }
        for _ in 0..<int(30...60) where problems.isEmpty {
            if chance(10) { try tick() } else { batch() }
        }
        return problems
    }

    enum Fault: String { case none, commitRefused, mapFullMax, mapFullGrows, lookupRefused }

    private func batch() {
        var lines: [String] = []
        var now = referenceClock.now()
        for _ in 0..<int(1...6) {
            switch int(0...99) {
            case 0..<60: lines.append(money.nextLine(state: reference.state, now: &now).line)
            case 60..<88: lines.append(setup.nextLine())
            default: lines.append(catalogLine())
            }
        }
        let fault: Fault = chance(35) ? pick([.commitRefused, .mapFullMax, .mapFullGrows, .lookupRefused]) : .none
        switch fault {
        case .commitRefused: storage.failCommits = true
        case .mapFullMax: storage.mapFull(attempts: 1, grows: false)
        case .mapFullGrows: storage.mapFull(attempts: 1, grows: true)
        case .lookupRefused: storage.failLookups = true
        case .none: break
        }
        let requests = lines.map(parsed)
        let failedBefore = storage.failedCommits
        let scansBefore = storage.scans
        let answers = engine.execute(requests)
        let scans = storage.scans - scansBefore
        storage.failCommits = false
        storage.failLookups = false
        storage.mapFull(attempts: 0, grows: false)
        let failed = storage.failedCommits > failedBefore || fault == .lookupRefused
        trace.append("batch [\(fault.rawValue)] \(lines.joined(separator: " ")) → \(failed ? "failed" : "ok")")

        if failed {
            if !answers.allSatisfy({ $0.code == .unavailable }) { issue("a failed batch answered \(answers)") }
            rollbacks += 1
            checkRolledBack(scans: scans, when: "after a failed batch")
            return
        }
        if answers.contains(where: { $0.code == .unavailable }) { issue("unavailable without a failure: \(answers)") }
        let expected = reference.execute(requests)
        if answers.map(Self.summary) != expected.map(Self.summary) {
            issue("answers differ from the reference's:\n\(answers.map(Self.summary))\n\(expected.map(Self.summary))")
        }
        if let fresh {
            let folded = fresh.execute(requests)
            if answers.map(Self.summary) != folded.map(Self.summary) {
                issue(
                    "answers differ from a fresh engine's:\n\(answers.map(Self.summary))\n\(folded.map(Self.summary))")
            }
            if fresh.state != engine.state || fresh.headHash != engine.headHash {
                issue("after the batch a fresh engine's state differs")
            }
            self.fresh = nil
        }
        for (line, answer) in zip(lines, expected) {
            guard answer.code == nil, let seq = answer.seq else { continue }
            money.learn(op: Self.op(of: line), seq: seq)
        }
        checkSame("after a batch")
    }

    /// Wall time passes with no request; the faulted engine's tick may fail to commit.
    private func tick() throws {
        let seconds = Int64(pick([int(1...3600), int(3600...90_000), 86_400 * int(1...3)]))
        clock.set(clock.now().adding(seconds: seconds))
        referenceClock.set(referenceClock.now().adding(seconds: seconds))
        let faulted = chance(50)
        storage.failCommits = faulted
        let scansBefore = storage.scans
        var appended: Int?
        do { appended = try engine.tick() } catch {}
        let scans = storage.scans - scansBefore
        storage.failCommits = false
        trace.append(
            "tick +\(seconds)s [\(faulted ? "commit refused" : "none")] → \(appended.map(String.init) ?? "failed")")
        guard let appended else {
            tickRollbacks += 1
            checkRolledBack(scans: scans, when: "after a failed tick")
            return
        }
        let expected = try reference.tick()
        if appended != expected { issue("tick appended \(appended), the reference \(expected)") }
        fresh = nil
        checkSame("after a tick")
    }

    /// After a failure: no scan, the reference's state and schedule, and a fresh fold's state.
    private func checkRolledBack(scans: Int, when: String) {
        if scans != 0 { issue("\(when): \(scans) scans of the log (a refold)") }
        checkSame(when)
        do {
            let copy = InMemoryLogStorage(copying: storage)
            let folded = try LedgerEngine(
                storage: copy, clock: ManualClock(at: clock.now()), config: config, logger: quietLogger)
            if folded.integrityFailure != nil { issue("\(when): the log fails its check") }
            if folded.state != engine.state { issue("\(when): the state differs from the fold of the log") }
            if folded.headHash != engine.headHash { issue("\(when): the head hash differs from the log's") }
            fresh = folded
        } catch {
            issue("\(when): folding the log threw \(error)")
        }
    }

    private func checkSame(_ when: String) {
        if engine.state != reference.state { issue("\(when): the state differs from the reference's") }
        if engine.headHash != reference.headHash { issue("\(when): the head hash differs from the reference's") }
        if clock.now() != referenceClock.now() { issue("\(when): the clock moved to \(clock.now())") }
        if engine.nextDue() != reference.nextDue() {
            issue(
                "\(when): next due \(String(describing: engine.nextDue())) ≠ \(String(describing: reference.nextDue()))"
            )
        }
        if let head = try? storage.head(), head.seq != engine.state.head || head.hash != engine.headHash {
            issue("\(when): the engine's head differs from the log's")
        }
    }

    /// Plans and prices, new ones and redefinitions.
    private func catalogLine() -> String {
        if chance(50) {
            let plan = pick(["tiny", "tiny2", "mid", "new\(int(0...2))"])
            return
                #"{"op":"plan.define","plan":"\#(plan)","monthly_tokens":\#(pick([1000, 3000, 9000])),"max_pods":3,"max_members":3}"#
        }
        let model = pick(["gpt", "img", "new\(int(0...2))"])
        if model == "img" {
            return #"{"op":"price.set","model":"img","kind":"image","base":\#(int(1...20)),"per_steps":25}"#
        }
        return #"{"op":"price.set","model":"\#(model)","kind":"text","input_weight":\#(int(1...3)),"output_weight":3}"#
    }

    private func int(_ r: ClosedRange<Int>) -> Int {
        r.lowerBound + Int(rng.next() % UInt64(r.upperBound - r.lowerBound + 1))
    }
    private func chance(_ percent: Int) -> Bool { int(0...99) < percent }
    private func pick<T>(_ xs: [T]) -> T { xs[int(0...(xs.count - 1))] }

    /// The op a request line names (the line is a test's own, so it parses).
    static func op(of line: String) -> String {
        guard case .success(let r) = RequestParser.parse(Array(line.utf8)) else { preconditionFailure(line) }
        return r.op.rawValue
    }
}
