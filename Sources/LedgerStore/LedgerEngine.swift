import LedgerCore
import LedgerJSON
import Logging

public struct EngineConfig: Sendable {
    public var defaultDailyLimit: Int64 = -1
    public var keyRetentionDays: Int64 = 30
    /// Start from the newest good snapshot and fold only the tail (`--verify-on-start tail` and
    /// `background`); false folds and hash-checks the whole log from seq 1 (`full`).
    public var startFromSnapshot = true
    public init() {}
}

public typealias EngineAnswer = Result<Answer, Rejection>

/// The write side, confined to the writer thread: the state folded from the log, the
/// scheduler, and one durable commit per batch. `execute` decides every request of a batch
/// against the state as the earlier ones left it, then commits once; no answer leaves before
/// its commit is durable, and a failed commit answers the whole batch `unavailable` and rolls the
/// batch back in memory (`BatchUndo`): the engine is then as a fold of the durable log would leave it.
public final class LedgerEngine {
    public private(set) var state = LedgerState()
    public private(set) var headHash = HashChain.genesis
    /// Set when the log fails its hash check: the ledger then refuses to serve money answers.
    public private(set) var integrityFailure: Rejection?
    /// The head the log's own record states (the same as the state's unless the log is broken).
    private var storedHead = LogHead(seq: 0, hash: HashChain.genesis)
    /// A failure found off the write path (the background check of the log before the
    /// snapshot): kept across reloads, since the snapshot a reload starts from hides it.
    private var verifiedFailure: Rejection?
    /// Where the last load started from and how much it folded.
    public private(set) var lastLoad = LoadReport(snapshotSeq: 0, tailEvents: 0, skipped: [])

    /// The log's head as served to `ping`, `verify`, `audit` and the read side: the state's head,
    /// or, when the log is broken, the head its record states, so that `verify` reaches and
    /// names the broken event instead of stopping quietly before it.
    public var logHead: LogHead {
        integrityFailure == nil ? LogHead(seq: state.head, hash: headHash) : storedHead
    }

    private var scheduler = Scheduler()
    /// Everything due at or before this instant has been appended.
    private var cursor = Instant(ms: 0)
    private var pending = CommitBatch()
    private var batchKeys: [String: KeyRecord] = [:]
    /// Where a clock op of the batch moves the manual clock, once the batch is durable: a batch
    /// answered `unavailable` changes nothing, time included (its `clock.advance`, retried,
    /// would otherwise move time twice).
    private var pendingClock: Instant?
    /// What the batch being built changed, to put back if it does not become durable.
    private var undo = BatchUndo()

    let storage: any LogStorage
    let clock: any LedgerClock
    let config: EngineConfig
    let logger: Logger

    public init(storage: any LogStorage, clock: any LedgerClock, config: EngineConfig, logger: Logger) throws {
        self.storage = storage
        self.clock = clock
        self.config = config
        self.logger = logger
        try reload()
    }

    // MARK: - Loading

    /// Folds the log into a fresh state, checking the hash chain on the way: from the newest
    /// snapshot that checks out (`startFromSnapshot`), else from seq 1.
    public func reload() throws {
        integrityFailure = nil
        let (headSeq, storedHeadHash) = try storage.head()
        storedHead = LogHead(seq: headSeq, hash: storedHeadHash)
        var skipped: [LoadReport.Skipped] = []
        let start = config.startFromSnapshot ? newestGoodSnapshot(headSeq: headSeq, skipped: &skipped) : nil
        var s = start?.state ?? LedgerState()
        var prev = start?.headHash ?? HashChain.genesis
        var next = s.head + 1
        scan: while true {
            let chunk = try storage.events(from: next, limit: 4096)
            if chunk.isEmpty { break }
            for stored in chunk {
                do {
                    let (event, h) = try HashChain.open(stored: stored.bytes, previous: prev, expectedSeq: next)
                    s.apply(event)
                    prev = h
                    next += 1
                } catch {
                    integrityFailure = Rejection(
                        .integrity, "event \(stored.seq) fails its check: \(error.description)", seq: stored.seq)
                    break scan
                }
            }
        }
        if integrityFailure == nil && (s.head != headSeq || prev != storedHeadHash) {
            integrityFailure = Rejection(
                .integrity, "the log ends at seq \(s.head) but its head record says \(headSeq)", seq: s.head + 1)
        }
        if integrityFailure == nil, let f = verifiedFailure { integrityFailure = f }
        if let f = integrityFailure {
            logger.critical("log integrity failure; refusing money answers", metadata: ["ledger.seq": "\(f.seq ?? 0)"])
        }
        let from = start?.seq ?? 0
        lastLoad = LoadReport(snapshotSeq: from, tailEvents: s.head - from, skipped: skipped)
        state = s
        headHash = prev
        cursor = s.lastTs
        scheduler.reset()
    }

    /// The newest stored snapshot whose digest checks and whose (seq, hash) is the log's event
    /// at that seq; nil when none does (then the fold starts at genesis). Never throws: a
    /// snapshot that cannot be read is skipped, with the reason logged and reported.
    private func newestGoodSnapshot(headSeq: UInt64, skipped: inout [LoadReport.Skipped]) -> Snapshot? {
        let infos: [SnapshotInfo]
        do {
            infos = try storage.snapshots()
        } catch {
            logger.warning("snapshots unreadable; folding the log from seq 1", metadata: ["error": "\(error)"])
            skipped.append(.init(seq: 0, reason: "snapshot list unreadable: \(error)"))
            return nil
        }
        for info in infos {
            let why: String
            do {
                if let snapshot = try checkedSnapshot(info, headSeq: headSeq) {
                    logger.info(
                        "starting from snapshot",
                        metadata: ["snapshot.seq": "\(info.seq)", "snapshot.bytes": "\(info.bytes)"])
                    return snapshot
                }
                why = "its chunks are missing"
            } catch {
                why = "\(error)"
            }
            let fallback = infos.last == info ? "seq 1" : "the older snapshot"
            logger.warning(
                "snapshot skipped; falling back to \(fallback)",
                metadata: ["snapshot.seq": "\(info.seq)", "reason": "\(why)"])
            skipped.append(.init(seq: info.seq, reason: why))
        }
        return nil
    }

    private func checkedSnapshot(_ info: SnapshotInfo, headSeq: UInt64) throws -> Snapshot? {
        guard info.seq <= headSeq else {
            throw LoadError("it stands at seq \(info.seq), past the log's head \(headSeq)")
        }
        guard let bytes = try storage.snapshotBytes(seq: info.seq) else { return nil }
        let snapshot = try SnapshotCodec.decode(bytes)
        guard snapshot.seq == info.seq else { throw LoadError("its bytes say seq \(snapshot.seq)") }
        guard snapshot.seq >= 1 else { throw LoadError("it stands before the first event") }
        guard let stored = try storage.events(from: info.seq, limit: 1).first, stored.seq == info.seq,
            case .object(let o)? = try? JSONParser.parse(stored.bytes), let hex = o["hash"]?.stringValue
        else { throw LoadError("the log's event \(info.seq) cannot be read") }
        guard hex == HashChain.hex(snapshot.headHash) else {
            throw LoadError("its head hash is not the hash of the log's event \(info.seq)")
        }
        return snapshot
    }

    struct LoadError: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }

    // MARK: - Snapshots and verification

    /// The write side at the last commit, for a snapshot: an O(1) copy (the state's
    /// collections are shared until the writer next changes them). Only between batches, on
    /// the writer thread; nil while the log fails its check.
    public func snapshot() -> Snapshot? {
        precondition(pending.isEmpty, "a snapshot is taken at a batch boundary")
        guard integrityFailure == nil, state.head > 0 else { return nil }
        return Snapshot(state: state, headHash: headHash)
    }

    /// Puts the ledger in `integrity` mode for a failure found off the write path (the
    /// background check); kept across reloads. On the writer thread.
    public func enterIntegrityMode(_ failure: Rejection) {
        precondition(failure.code == .integrity)
        verifiedFailure = failure
        guard integrityFailure == nil else { return }
        storedHead = LogHead(seq: state.head, hash: headHash)
        integrityFailure = failure
        logger.critical(
            "log integrity failure found by the background check; refusing money answers",
            metadata: ["ledger.seq": "\(failure.seq ?? 0)"])
    }

    // MARK: - Batches

    /// Appends what the clock made due (after a restart, or with no traffic), durably.
    /// Returns the number of events appended.
    @discardableResult
    public func tick() throws -> Int {
        guard integrityFailure == nil else { return 0 }
        beginBatch()
        let n = runScheduler(upTo: effectiveNow())
        try commitOrRollBack()
        return n
    }

    /// Commits what the batch appended, or puts the engine back where the batch found it.
    private func commitOrRollBack() throws {
        do {
            try commitPending()
        } catch {
            discardPending()
            throw error
        }
        undo.commit()
    }

    /// The earliest instant at which the scheduler has work, for the writer's timer.
    public func nextDue() -> Instant? {
        scheduler.nextDue(state: state, cursor: cursor)
    }

    public func execute(_ batch: [LedgerRequest]) -> [EngineAnswer] {
        precondition(pending.isEmpty && batchKeys.isEmpty && pendingClock == nil)
        if let f = integrityFailure {
            return batch.map {
                if case .query(.ping) = $0.body { return .success(["seq": .int(storedHead.seq)]) }
                return .failure(f)
            }
        }
        var now = effectiveNow()
        var answers: [EngineAnswer] = []
        answers.reserveCapacity(batch.count)
        beginBatch()
        runScheduler(upTo: now)
        let stored: [String: KeyRecord]
        do {
            stored = try storage.lookupKeys(batch.compactMap(\.key))
        } catch {
            logger.error("idempotency lookup failed", metadata: ["error": "\(error)"])
            discardPending()
            return Self.unavailable(batch, error)
        }
        for request in batch {
            switch request.body {
            case .query(let q):
                answers.append(query(q, now: &now))
            case .command(let c):
                answers.append(command(c, request: request, stored: stored, now: now))
            }
        }
        do {
            try commitPending()
        } catch {
            logger.error("commit failed; batch answered unavailable", metadata: ["error": "\(error)"])
            discardPending()
            return Self.unavailable(batch, error)
        }
        undo.commit()
        if let target = pendingClock, let manual = clock.manual {
            let moved = manual.set(target)
            assert(moved, "only the writer moves the manual clock, and only forward")
        }
        pendingClock = nil
        return answers
    }

    /// One `unavailable` for every request: one rejection, shared (a batch holds up to 4096 requests, and
    /// writing the error into each answer's message took milliseconds of the recovery).
    private static func unavailable(_ batch: [LedgerRequest], _ error: any Error) -> [EngineAnswer] {
        let rejection = Rejection(.unavailable, "storage unavailable: \(error)")
        return [EngineAnswer](repeating: .failure(rejection), count: batch.count)
    }

    /// Starts recording what the batch changes, so that `discardPending` can put it back.
    private func beginBatch() {
        undo.begin(state: state, headHash: headHash, scheduler: scheduler, cursor: cursor)
    }

    /// Forgets what was decided but not committed: the batch is rolled back in memory, in
    /// O(what it touched), so the engine is where the batch found it, which is what the log says.
    /// A storage that stored a batch although its commit threw breaks `LogStorage`'s promise; the
    /// head check finds it, and the engine then folds the log again rather than seal the next
    /// batch after a head the log does not have.
    private func discardPending() {
        pending = CommitBatch()
        batchKeys.removeAll(keepingCapacity: true)
        pendingClock = nil
        undo.rollBack(state: &state, headHash: &headHash, scheduler: &scheduler, cursor: &cursor)
        // One read of the head record, no scan: the chain hash covers every event before it.
        guard let stored = try? storage.head(), stored.seq != state.head || stored.hash != headHash else { return }
        assertionFailure(
            "after a rollback the engine is at seq \(state.head) but the log's head is \(stored.seq) (or its hash differs)"
        )
        logger.critical(
            "after a failed commit the log's head differs from the engine's; folding the log again",
            metadata: ["ledger.seq": "\(state.head)", "ledger.stored_seq": "\(stored.seq)"])
        do {
            try reload()
        } catch {
            logger.critical("reload after a failed commit failed", metadata: ["error": "\(error)"])
        }
    }

    private func effectiveNow() -> Instant {
        max(clock.now(), state.lastTs)
    }

    private func commitPending() throws {
        defer {
            pending = CommitBatch()
            batchKeys.removeAll(keepingCapacity: true)
        }
        guard !pending.isEmpty else { return }
        pending.headSeq = state.head
        pending.headHash = headHash
        pending.pruneKeysBefore = Instant(ms: state.lastTs.ms - config.keyRetentionDays * 86_400_000)
        try storage.commit(pending)
    }

    private func append(_ body: EventBody, ts: Instant, key: String?) {
        append(body, ts: ts, key: key, into: &state)
        switch body {
        case .teamCreated: scheduler.invalidate()
        case .holdPlaced(let h): scheduler.noteDue(h.expiresAt)
        case .bonusGranted(_, _, _, let expiresAt?): scheduler.noteDue(expiresAt)
        default: break
        }
    }

    /// Folds a new event into `s` and seals it after the current head. Takes the state as a
    /// parameter so that the scheduler, which holds `self.state` inout, can call it.
    private func append(_ body: EventBody, ts: Instant, key: String?, into s: inout LedgerState) {
        let e = Event(seq: s.head + 1, ts: ts, key: key, body: body)
        undo.noteBeforeApplying(e, to: s)
        s.apply(e)
        let (stored, hash) = HashChain.seal(e, previous: headHash)
        headHash = hash
        pending.events.append((e.seq, stored))
    }

    @discardableResult
    private func runScheduler(upTo now: Instant) -> Int {
        var appended = 0
        while let due = scheduler.nextDue(state: state, cursor: cursor), due <= now {
            scheduler.fire(at: due, state: &state) { s, body in
                append(body, ts: due, key: nil, into: &s)
                appended += 1
            }
            cursor = due
        }
        if now > cursor { cursor = now }
        return appended
    }

    // MARK: - Commands

    private func command(
        _ c: Command, request: LedgerRequest, stored: [String: KeyRecord], now: Instant
    ) -> EngineAnswer {
        if let key = request.key {
            let retentionMs = config.keyRetentionDays * 86_400_000
            if let seen = batchKeys[key] ?? stored[key], seen.ts.ms + retentionMs > now.ms {
                guard seen.digest == request.payloadDigest else {
                    return .failure(
                        Rejection(.conflict, "key \"\(key)\" was used for another request (seq \(seen.seq))"))
                }
                guard let original = loadEvent(seen.seq) else {
                    return .failure(Rejection(.internal, "key \"\(key)\" names seq \(seen.seq), which cannot be read"))
                }
                return .success(answerFor(c, first: original, duplicate: true))
            }
        }
        var ctx = DecideContext(now: now, defaultDailyLimit: config.defaultDailyLimit)
        if let seq = c.referencedSeq { ctx.referenced = loadEvent(seq) }
        switch Decider.decide(c, state: state, context: ctx) {
        case .failure(let r):
            return .failure(r)
        case .success(let bodies):
            precondition(!bodies.isEmpty, "an accepted command appends")
            let first = Event(seq: state.head + 1, ts: now, key: request.key, body: bodies[0])
            for b in bodies { append(b, ts: now, key: request.key) }
            if let key = request.key {
                let record = KeyRecord(seq: first.seq, digest: request.payloadDigest, ts: now)
                batchKeys[key] = record
                pending.keys.append((key, record))
            }
            return .success(answerFor(c, first: first, duplicate: false))
        }
    }

    /// An event of the log or of the batch being built; nil when there is no such seq.
    private func loadEvent(_ seq: UInt64) -> Event? {
        guard seq >= 1 && seq <= state.head else { return nil }
        let bytes: [UInt8]
        if let firstPending = pending.events.first?.seq, seq >= firstPending {
            bytes = pending.events[Int(seq - firstPending)].stored
        } else {
            guard let stored = try? storage.events(from: seq, limit: 1).first, stored.seq == seq else { return nil }
            bytes = stored.bytes
        }
        guard case .object(let o)? = try? JSONParser.parse(bytes) else { return nil }
        return try? Event(json: o)
    }

    /// The answer of a command from the first event it appended, plus the current figures.
    /// Duplicates answer the same way from the original event, with `duplicate:true`.
    private func answerFor(_ c: Command, first: Event, duplicate: Bool) -> Answer {
        if case .consume(let cc) = c, case .consumed(let consumption) = first.body, let t = state.teams[cc.tags.team] {
            let answer = Answer.consume(
                Views.ConsumeFigures(
                    seq: first.seq, cost: consumption.cost, duplicate: duplicate,
                    standing: Views.Standing(team: t, user: cc.tags.user)))
            assert(
                answer.line(id: nil) == Self.canonical(fieldsFor(c, first: first, duplicate: duplicate)),
                "the consume answer's bytes differ from its fields")
            return answer
        }
        return .fields(fieldsFor(c, first: first, duplicate: duplicate))
    }

    /// The RFC 8785 bytes of a success answer without `id`, the generic way.
    static func canonical(_ fields: JSONObject) -> [UInt8] {
        var o = fields
        o["ok"] = .bool(true)
        return CanonicalJSON.bytes(.object(o))
    }

    private func fieldsFor(_ c: Command, first: Event, duplicate: Bool) -> JSONObject {
        var o: JSONObject = ["seq": .int(first.seq)]
        if duplicate { o["duplicate"] = .bool(true) }
        switch (c, first.body) {
        case (.teamCreate(let team, _, _, _), _):
            if let t = state.teams[team] {
                o["team"] = .string(team.string)
                o["plan"] = .string(t.plan.string)
                o["timezone"] = .string(t.timezone)
                o["daily_limit"] = .int(t.dailyLimit)
                o["cycle_start"] = .string(t.cycleStart.rfc3339)
                o["cycle_end"] = .string(t.cycleEnd.rfc3339)
                o["available"] = .int(t.available)
            }
        case (.topup(let team, _, _), _), (.bonusGrant(let team, _, _, _), _):
            if let t = state.teams[team] {
                o["available"] = .int(t.available)
                o["overdraft"] = .int(t.overdraft)
            }
        case (.consume(let cc), .consumed(let consumption)):
            o["cost"] = .int(consumption.cost)
            if let t = state.teams[cc.tags.team] { Views.figures(team: t, user: cc.tags.user, into: &o) }
        case (.hold, .holdPlaced(let h)):
            o["hold"] = .int(first.seq)
            o["amount"] = .int(h.amount)
            o["expires_at"] = .string(h.expiresAt.rfc3339)
            if let t = state.teams[h.tags.team] { Views.figures(team: t, user: h.tags.user, into: &o) }
        case (.holdCommit, .holdCommitted(let h)):
            o["cost"] = .int(h.cost)
            o["released"] = .int(h.released)
            if let t = state.teams[h.tags.team] { Views.figures(team: t, user: h.tags.user, into: &o) }
        case (.holdRelease, .holdReleased(_, let team, let released)):
            o["released"] = .int(released)
            if let t = state.teams[team] { o["available"] = .int(t.available) }
        case (.reverse, .reversed(let r)):
            o["amount"] = .int(r.amount)
            if let t = state.teams[r.team] {
                o["available"] = .int(t.available)
                o["overdraft"] = .int(t.overdraft)
            }
        default:
            break
        }
        return o
    }

    // MARK: - Reads on the write side

    private func query(_ q: Query, now: inout Instant) -> EngineAnswer {
        switch q {
        case .ping:
            return .success(["seq": .int(state.head)])
        case .estimate(let model, let usage):
            guard let spec = state.prices[model] else { return .failure(.notFound("model \(model) has no price")) }
            return Pricing.cost(usage, at: spec).map {
                .fields(["cost": .int($0.cost), "breakdown": .object($0.breakdown)])
            }
        case .check(let c):
            return check(c, now: now)
        case .balance(let team, let user):
            guard let t = state.teams[team] else { return .failure(.notFound("team \(team) not found")) }
            if let user {
                guard let u = t.users[user], !u.removed else {
                    return .failure(.notFound("user \(user) not found in team \(team)"))
                }
            }
            return .success(.fields(Views.balance(team: t, user: user, now: now)))
        case .clockSet(let at):
            return moveClock(to: at, now: &now)
        case .clockAdvance(let seconds):
            return moveClock(to: Instant(ms: now.ms + seconds * 1000), now: &now)
        case .audit, .verify, .stats, .usage, .report, .subscribe, .rebuild, .backup:
            return .failure(Rejection(.internal, "log and read-model reads are not served by the writer"))
        }
    }

    private func check(_ c: ConsumeCommand, now: Instant) -> EngineAnswer {
        let cost: Int64
        do { cost = try Decider.price(c, state: state) } catch { return .failure(error) }
        let t = state.teams[c.tags.team]!
        let refusal = LimitChecks.check(team: t, tags: c.tags, cost: cost)
        let answer = Answer.check(
            Views.CheckFigures(
                cost: cost, refusal: refusal, dailyLimit: t.dailyLimit, resetsAt: t.zone.nextDayStart(after: now),
                standing: Views.Standing(team: t, user: c.tags.user)))
        assert(
            answer.line(id: nil) == Self.canonical(checkFields(c, cost: cost, refusal: refusal, team: t, now: now)),
            "the check answer's bytes differ from its fields")
        return .success(answer)
    }

    /// `check`'s answer as fields: what `Views.checkAnswer` must write.
    private func checkFields(_ c: ConsumeCommand, cost: Int64, refusal: Rejection?, team t: TeamState, now: Instant)
        -> JSONObject
    {
        var o: JSONObject = ["cost": .int(cost)]
        if let refusal {
            o["allowed"] = .bool(false)
            o["reason"] = .string(refusal.code.rawValue)
            if let scope = refusal.scope { o["scope"] = .string(scope.rawValue) }
            o["message"] = .string(refusal.message)
        } else {
            o["allowed"] = .bool(true)
        }
        Views.figures(team: t, user: c.tags.user, into: &o)
        o["daily_limit"] = .int(t.dailyLimit)
        o["resets_at"] = .string(t.zone.nextDayStart(after: now).rfc3339)
        return o
    }

    private func moveClock(to target: Instant, now: inout Instant) -> EngineAnswer {
        guard let manual = clock.manual else {
            return .failure(Rejection(.unknownOp, "clock ops exist only with --clock manual"))
        }
        guard target >= now, target >= manual.now() else {
            return .failure(.badRequest("time never goes back: the clock is at \(now.rfc3339)"))
        }
        now = target
        pendingClock = target
        let appended = runScheduler(upTo: target)
        return .success(["now": .string(target.rfc3339), "appended": .int(appended)])
    }

    /// Appends `price_set` events for a catalog on the first start of an empty log.
    public func bootstrap(catalog: [PriceSpec]) throws {
        guard state.head == 0, !catalog.isEmpty, integrityFailure == nil else { return }
        let now = effectiveNow()
        beginBatch()
        for spec in catalog { append(.priceSet(spec), ts: now, key: nil) }
        try commitOrRollBack()
    }
}
