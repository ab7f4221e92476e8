import Crypto

/// The snapshot format: a deterministic binary encoding of a `Snapshot`, pure (no I/O).
///
///     magic "tlsnap" ‖ version u16 ‖ seq u64 ‖ head hash (32) ‖ LedgerState ‖ SHA-256 of all before it (32)
///
/// Integers are little-endian and fixed-width; strings and collections carry a u32 count;
/// optionals a 0/1 tag. Dictionaries and sets are written in key order (ids by their UTF-8
/// bytes), so equal states encode to equal bytes: a snapshot can be checked byte for byte
/// against a fold of the log (`tokenledgerd verify-snapshot`, the property tests).
///
/// Every stored property of `LedgerState` and the types inside it is written, in declaration
/// order; `fieldsWritten` lists them and a test compares that list with the types' own
/// (`Mirror`), so a field added to the state without a line here fails the tests. Adding one
/// means: write it here, read it in `decode…`, list it in `fieldsWritten`, bump `version`
/// (older snapshots are then refused, and the start-up folds from genesis once).
public enum SnapshotCodec {
    public static let magic: [UInt8] = Array("tlsnap".utf8)
    public static let version: UInt16 = 2
    static let headerBytes = 6 + 2 + 8 + 32
    static let digestBytes = 32

    /// What each encoded type's stored properties are, in the order written (see above).
    public static let fieldsWritten: [String: [String]] = [
        "LedgerState": ["head", "lastTs", "plans", "prices", "teams", "holds", "reversed"],
        "Plan": ["monthlyTokens", "maxPods", "maxMembers"],
        "PriceSpec": [
            "model", "kind", "inputWeightMilli", "outputWeightMilli", "base", "factorsMilli", "perSteps",
        ],
        "TeamState": [
            "id", "plan", "currentPlan", "nextPlan", "timezone", "zone", "dailyLimit", "cycleAnchor", "cycleStart",
            "cycleEnd", "unlimited", "consumedToday", "today", "buckets", "overdraft", "users", "pods", "tasks",
            "budget", "alertAt",
        ],
        "Bucket": ["seq", "source", "amount", "expiresAt"],
        "UserState": ["dailyLimit", "consumedToday", "consumedCycle", "allocation", "held", "removed"],
        "PodState": ["budget", "archived", "tasks"],
        "BudgetState": ["budget", "action", "used", "held", "resumed", "alerted"],
        "HoldState": ["seq", "tags", "amount", "draws", "expiresAt", "price"],
        "UsageTags": ["team", "user", "pod", "task", "model", "operation"],
        "Draw": ["bucketSeq", "amount"],
        "LocalDay": ["year", "month", "day"],
        "Instant": ["ms"],
        "ID": ["string"],
        // `zone` is rebuilt from `identifier` (it is a tzdata handle, equal when the names are).
        "ZoneCalendar": ["identifier", "zone"],
    ]

    // MARK: - Encoding

    public static func encode(_ snapshot: Snapshot) -> [UInt8] {
        var w = SnapshotEncoder(capacity: 4096)
        w.raw(magic)
        w.u16(version)
        w.u64(snapshot.seq)
        w.raw(snapshot.headHash)
        write(snapshot.state, &w)
        let digest = sha256(w.bytes[...])
        w.raw(digest)
        assert(w.bytes.count >= headerBytes + digestBytes)
        return w.bytes
    }

    private static func write(_ s: LedgerState, _ w: inout SnapshotEncoder) {
        w.u64(s.head)
        w.instant(s.lastTs)
        w.count(s.plans.count)
        for (id, p) in s.plans.sorted(by: { $0.key < $1.key }) {
            w.id(id)
            write(p, &w)
        }
        w.count(s.prices.count)
        for (id, p) in s.prices.sorted(by: { $0.key < $1.key }) {
            w.id(id)
            write(p, &w)
        }
        w.count(s.teams.count)
        for (id, t) in s.teams.sorted(by: { $0.key < $1.key }) {
            w.id(id)
            write(t, &w)
        }
        w.count(s.holds.count)
        for (seq, h) in s.holds.sorted(by: { $0.key < $1.key }) {
            w.u64(seq)
            write(h, &w)
        }
        w.count(s.reversed.count)
        for seq in s.reversed.sorted() { w.u64(seq) }
    }

    private static func write(_ p: Plan, _ w: inout SnapshotEncoder) {
        w.i64(p.monthlyTokens)
        w.i64(p.maxPods)
        w.i64(p.maxMembers)
    }

    private static func write(_ p: PriceSpec, _ w: inout SnapshotEncoder) {
        w.id(p.model)
        w.string(p.kind.rawValue)
        w.i64(p.inputWeightMilli)
        w.i64(p.outputWeightMilli)
        w.i64(p.base)
        w.count(p.factorsMilli.count)
        for (param, values) in p.factorsMilli.sorted(by: { utf8Less($0.key, $1.key) }) {
            w.string(param)
            w.count(values.count)
            for (value, milli) in values.sorted(by: { utf8Less($0.key, $1.key) }) {
                w.string(value)
                w.i64(milli)
            }
        }
        w.i64(p.perSteps)
    }

    private static func write(_ t: TeamState, _ w: inout SnapshotEncoder) {
        w.id(t.id)
        w.id(t.plan)
        write(t.currentPlan, &w)
        w.optional(t.nextPlan) { $0.id($1) }
        w.string(t.timezone)
        w.string(t.zone.identifier)
        w.i64(t.dailyLimit)
        w.i64(t.cycleAnchor)
        w.instant(t.cycleStart)
        w.instant(t.cycleEnd)
        w.bool(t.unlimited)
        w.i64(t.consumedToday)
        write(t.today, &w)
        // In spend order, as kept: the order is part of the state.
        w.count(t.buckets.count)
        for b in t.buckets {
            w.u64(b.seq)
            w.string(b.source.rawValue)
            w.i64(b.amount)
            w.optional(b.expiresAt) { $0.instant($1) }
        }
        w.i64(t.overdraft)
        w.count(t.users.count)
        for (id, u) in t.users.sorted(by: { $0.key < $1.key }) {
            w.id(id)
            w.i64(u.dailyLimit)
            w.i64(u.consumedToday)
            w.i64(u.consumedCycle)
            w.i64(u.allocation)
            w.i64(u.held)
            w.bool(u.removed)
        }
        w.count(t.pods.count)
        for (id, p) in t.pods.sorted(by: { $0.key < $1.key }) {
            w.id(id)
            write(p.budget, &w)
            w.bool(p.archived)
            writeIDs(p.tasks, &w)
        }
        writeIDs(t.tasks, &w)
        write(t.budget, &w)
        w.count(t.alertAt.count)
        for a in t.alertAt { w.i64(a) }
    }

    private static func write(_ b: BudgetState, _ w: inout SnapshotEncoder) {
        w.i64(b.budget)
        w.string(b.action.rawValue)
        w.i64(b.used)
        w.i64(b.held)
        w.bool(b.resumed)
        w.count(b.alerted.count)
        for a in b.alerted.sorted() { w.i64(a) }
    }

    private static func write(_ h: HoldState, _ w: inout SnapshotEncoder) {
        w.u64(h.seq)
        write(h.tags, &w)
        w.i64(h.amount)
        writeDraws(h.draws, &w)
        w.instant(h.expiresAt)
        w.optional(h.price) { write($1, &$0) }
    }

    private static func write(_ t: UsageTags, _ w: inout SnapshotEncoder) {
        w.id(t.team)
        w.id(t.user)
        w.optional(t.pod) { $0.id($1) }
        w.optional(t.task) { $0.id($1) }
        w.id(t.model)
        w.optional(t.operation) { $0.string($1) }
    }

    private static func writeDraws(_ draws: [Draw], _ w: inout SnapshotEncoder) {
        w.count(draws.count)
        for d in draws {
            w.u64(d.bucketSeq)
            w.i64(d.amount)
        }
    }

    private static func write(_ d: LocalDay, _ w: inout SnapshotEncoder) {
        w.i64(Int64(d.year))
        w.i64(Int64(d.month))
        w.i64(Int64(d.day))
    }

    static func writeIDs(_ ids: Set<ID>, _ w: inout SnapshotEncoder) {
        w.count(ids.count)
        for id in ids.sorted() { w.id(id) }
    }

    // MARK: - Decoding

    /// The seq and head hash a blob claims, read from its header without checking the rest.
    public static func header(_ bytes: [UInt8]) throws(SnapshotError) -> (version: UInt16, seq: UInt64, hash: [UInt8]) {
        guard bytes.count >= headerBytes + digestBytes else { throw .tooShort(bytes.count) }
        guard Array(bytes[0..<magic.count]) == magic else { throw .badMagic }
        var r = SnapshotDecoder(bytes, from: magic.count, to: headerBytes)
        let v = try r.u16()
        let seq = try r.u64()
        let hash = try r.raw(32)
        return (v, seq, hash)
    }

    /// Checks the digest, the magic and the version, then reads every field; throws on any
    /// mismatch or leftover byte.
    public static func decode(_ bytes: [UInt8]) throws(SnapshotError) -> Snapshot {
        let (v, seq, hash) = try header(bytes)
        let bodyEnd = bytes.count - digestBytes
        guard sha256(bytes[0..<bodyEnd]) == Array(bytes[bodyEnd...]) else { throw .digestMismatch }
        guard v == version else { throw .unknownVersion(v) }
        var r = SnapshotDecoder(bytes, from: headerBytes, to: bodyEnd)
        let state = try readState(&r)
        guard r.remaining == 0 else { throw .trailingBytes(r.remaining) }
        guard state.head == seq else { throw .invalid("header seq \(seq), state head \(state.head)") }
        return Snapshot(state: state, headHash: hash)
    }

    private static func readState(_ r: inout SnapshotDecoder) throws(SnapshotError) -> LedgerState {
        var s = LedgerState()
        s.head = try r.u64()
        s.lastTs = try r.instant()
        s.plans = [:]
        for _ in 0..<(try r.count()) {
            let id = try r.id()
            s.plans[id] = try readPlan(&r)
        }
        for _ in 0..<(try r.count()) {
            let id = try r.id()
            s.prices[id] = try readPrice(&r)
        }
        for _ in 0..<(try r.count()) {
            let id = try r.id()
            s.teams[id] = try readTeam(&r)
        }
        for _ in 0..<(try r.count()) {
            let seq = try r.u64()
            s.holds[seq] = try readHold(&r)
        }
        for _ in 0..<(try r.count()) { s.reversed.insert(try r.u64()) }
        return s
    }

    private static func readPlan(_ r: inout SnapshotDecoder) throws(SnapshotError) -> Plan {
        Plan(monthlyTokens: try r.i64(), maxPods: try r.i64(), maxMembers: try r.i64())
    }

    private static func readPrice(_ r: inout SnapshotDecoder) throws(SnapshotError) -> PriceSpec {
        var p = PriceSpec(model: try r.id(), kind: try r.rawEnum(PriceKind.self))
        p.inputWeightMilli = try r.i64()
        p.outputWeightMilli = try r.i64()
        p.base = try r.i64()
        for _ in 0..<(try r.count()) {
            let param = try r.string()
            var values: [String: Int64] = [:]
            for _ in 0..<(try r.count()) {
                let value = try r.string()
                values[value] = try r.i64()
            }
            p.factorsMilli[param] = values
        }
        p.perSteps = try r.i64()
        return p
    }

    private static func readTeam(_ r: inout SnapshotDecoder) throws(SnapshotError) -> TeamState {
        let id = try r.id()
        let plan = try r.id()
        let currentPlan = try readPlan(&r)
        let nextPlan = try r.optional { (r: inout SnapshotDecoder) throws(SnapshotError) in try r.id() }
        let timezone = try r.string()
        let zoneName = try r.string()
        guard let zone = ZoneCalendar(identifier: zoneName) else { throw .invalid("unknown time zone \(zoneName)") }
        let dailyLimit = try r.i64()
        let cycleAnchor = try r.i64()
        let cycleStart = try r.instant()
        let cycleEnd = try r.instant()
        let unlimited = try r.bool()
        let consumedToday = try r.i64()
        let today = try readDay(&r)
        var t = TeamState(
            id: id, plan: plan, timezone: timezone, zone: zone, dailyLimit: dailyLimit, cycleAnchor: cycleAnchor,
            cycleStart: cycleStart, cycleEnd: cycleEnd, today: today)
        t.currentPlan = currentPlan
        t.nextPlan = nextPlan
        t.unlimited = unlimited
        t.consumedToday = consumedToday
        for _ in 0..<(try r.count()) {
            let seq = try r.u64()
            let source = try r.rawEnum(BucketSource.self)
            let amount = try r.i64()
            let expiresAt = try r.optional { (r: inout SnapshotDecoder) throws(SnapshotError) in try r.instant() }
            t.buckets.append(Bucket(seq: seq, source: source, amount: amount, expiresAt: expiresAt))
        }
        t.overdraft = try r.i64()
        for _ in 0..<(try r.count()) {
            let uid = try r.id()
            var u = UserState(dailyLimit: try r.i64())
            u.consumedToday = try r.i64()
            u.consumedCycle = try r.i64()
            u.allocation = try r.i64()
            u.held = try r.i64()
            u.removed = try r.bool()
            t.users[uid] = u
        }
        for _ in 0..<(try r.count()) {
            let pid = try r.id()
            var p = PodState()
            p.budget = try readBudget(&r)
            p.archived = try r.bool()
            p.tasks = try readIDs(&r)
            t.pods[pid] = p
        }
        t.tasks = try readIDs(&r)
        t.budget = try readBudget(&r)
        t.alertAt = []
        for _ in 0..<(try r.count()) { t.alertAt.append(try r.i64()) }
        return t
    }

    private static func readBudget(_ r: inout SnapshotDecoder) throws(SnapshotError) -> BudgetState {
        var b = BudgetState()
        b.budget = try r.i64()
        b.action = try r.rawEnum(BudgetAction.self)
        b.used = try r.i64()
        b.held = try r.i64()
        b.resumed = try r.bool()
        for _ in 0..<(try r.count()) { b.alerted.insert(try r.i64()) }
        return b
    }

    private static func readHold(_ r: inout SnapshotDecoder) throws(SnapshotError) -> HoldState {
        let seq = try r.u64()
        let tags = try readTags(&r)
        let amount = try r.i64()
        let draws = try readDraws(&r)
        let expiresAt = try r.instant()
        let price = try r.optional { (r: inout SnapshotDecoder) throws(SnapshotError) in try readPrice(&r) }
        return HoldState(seq: seq, tags: tags, amount: amount, draws: draws, expiresAt: expiresAt, price: price)
    }

    private static func readTags(_ r: inout SnapshotDecoder) throws(SnapshotError) -> UsageTags {
        let team = try r.id()
        let user = try r.id()
        let pod = try r.optional { (r: inout SnapshotDecoder) throws(SnapshotError) in try r.id() }
        let task = try r.optional { (r: inout SnapshotDecoder) throws(SnapshotError) in try r.id() }
        let model = try r.id()
        let operation = try r.optional { (r: inout SnapshotDecoder) throws(SnapshotError) in try r.string() }
        return UsageTags(team: team, user: user, pod: pod, task: task, model: model, operation: operation)
    }

    private static func readDraws(_ r: inout SnapshotDecoder) throws(SnapshotError) -> [Draw] {
        var out: [Draw] = []
        for _ in 0..<(try r.count()) { out.append(Draw(bucketSeq: try r.u64(), amount: try r.i64())) }
        return out
    }

    private static func readDay(_ r: inout SnapshotDecoder) throws(SnapshotError) -> LocalDay {
        let y = try r.i64()
        let m = try r.i64()
        let d = try r.i64()
        guard abs(y) < 1_000_000, (1...12).contains(m), (1...Civil.daysIn(year: Int(y), month: Int(m))).contains(Int(d))
        else {
            throw .invalid("day \(y)-\(m)-\(d)")
        }
        return LocalDay(unchecked: Int(y), Int(m), Int(d))
    }

    static func readIDs(_ r: inout SnapshotDecoder) throws(SnapshotError) -> Set<ID> {
        var out: Set<ID> = []
        for _ in 0..<(try r.count()) { out.insert(try r.id()) }
        return out
    }

    // MARK: - Helpers

    static func sha256(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        var h = SHA256()
        bytes.withUnsafeBytes { h.update(bufferPointer: $0) }
        return h.finalize().withUnsafeBytes { [UInt8]($0) }
    }

    private static func utf8Less(_ a: String, _ b: String) -> Bool {
        a.utf8.lexicographicallyPrecedes(b.utf8)
    }
}
