import LMDB
import LedgerCore
import LedgerJSON

/// `usage` and `report` (PROTOCOL §5), answered from the read models in one read transaction.
public struct ViewQueries: Sendable {
    public let store: ViewStore

    public init(store: ViewStore) { self.store = store }

    /// Every row of `db` under `team ‖ 0 ‖ prefix`, with the key's part after that prefix.
    static func scan(
        _ txn: borrowing ReadTransaction, _ db: Database, team: [UInt8], prefix: [UInt8], from: [UInt8] = [],
        through: [UInt8]? = nil, _ body: ([UInt8], UnsafeRawBufferPointer) -> Void
    ) throws {
        let base = RowDelta.key(team: team, prefix)
        try txn.withCursor(db) { cursor in
            var entry = try cursor.seek(atLeast: base + from)
            while let e = entry, e.key.starts(with: base) {
                let rest = Array(e.key[base.count...])
                if let through, !(rest.lexicographicallyPrecedes(through) || rest.starts(with: through)) { break }
                body(rest, e.value)
                entry = try cursor.next()
            }
        }
    }

    func teamExists(_ txn: borrowing ReadTransaction, _ pods: Database, _ team: [UInt8]) throws -> Bool {
        try txn.get(pods, RowDelta.key(team: team, Rows.zone)) != nil
    }

    // MARK: audit

    /// The smallest seq ≥ `from` that may hold an event of `team`, from the `audit_teams`
    /// index; nil when `from` is past what the index has folded (the log must be read).
    public func teamSeq(team: ID, from: UInt64) -> UInt64? {
        try? store.env.read { txn -> UInt64? in
            let (active, folded) = try store.position(.auditTeams, txn)
            guard from <= folded else { return nil }
            let db = store.pairs[.auditTeams]![active]
            let base = RowDelta.key(team: Array(team.string.utf8), [UInt8(ascii: "b")])
            return try txn.withCursor(db) { cursor -> UInt64 in
                guard let e = try cursor.seek(atLeast: base + BigEndian.bytes(from >> Rows.blockShift)),
                    e.key.count == base.count + 8, e.key.starts(with: base)
                else { return folded + 1 }
                let start = BigEndian.uint64(UnsafeRawBufferPointer(rebasing: e.key[base.count...])) << Rows.blockShift
                return start > folded ? folded + 1 : max(from, start)
            }
        }
    }

    // MARK: usage

    public func usage(team: ID, pod: ID?) throws -> JSONObject {
        let t = Array(team.string.utf8)
        return try store.env.read { txn in
            let db = try store.active(.pods, txn)
            guard try teamExists(txn, db, t) else { throw Rejection.notFound("team \(team) not found") }
            var configs: [[UInt8]: PodConfig] = [:]
            try Self.scan(txn, db, team: t, prefix: Array("fp".utf8)) { pod, v in
                if let c = PodConfig(encoded: v) { configs[pod] = c }
            }
            var firstDay: [UInt8]?
            var used: [[UInt8]: Int64] = [:]
            var resumed: Set<[UInt8]> = []
            var models: [[UInt8]: [([UInt8], Counters)]] = [:]
            var tasks: [[UInt8]: [([UInt8], Counters)]] = [:]
            var days: [[UInt8]: [([UInt8], Counters)]] = [:]
            try Self.scan(txn, db, team: t, prefix: Rows.cyclePrefix) { rest, v in
                guard let kind = rest.first else { return }
                let body = Array(rest.dropFirst())
                func split() -> ([UInt8], [UInt8])? {
                    guard let z = body.firstIndex(of: 0) else { return nil }
                    return (Array(body[..<z]), Array(body[(z + 1)...]))
                }
                switch kind {
                case UInt8(ascii: "s"): firstDay = Array(v)
                case UInt8(ascii: "u"): used[body] = Counters(encoded: v)?.tokens ?? 0
                case UInt8(ascii: "r"): resumed.insert(body)
                case UInt8(ascii: "m"):
                    if let (p, k) = split(), let c = Counters(encoded: v) { models[p, default: []].append((k, c)) }
                case UInt8(ascii: "t"):
                    if let (p, k) = split(), let c = Counters(encoded: v) { tasks[p, default: []].append((k, c)) }
                case UInt8(ascii: "d"):
                    if let (p, k) = split(), let c = Counters(encoded: v) { days[p, default: []].append((k, c)) }
                default: break
                }
            }
            var selected = configs.filter { !$0.value.archived }.keys.sorted { $0.lexicographicallyPrecedes($1) }
            if let pod {
                let p = Array(pod.string.utf8)
                guard let c = configs[p], !c.archived else {
                    throw Rejection.notFound("pod \(pod) not found in team \(team)")
                }
                selected = [p]
            }
            func byModel(_ p: [UInt8]) -> JSON {
                .array(
                    Self.ranked(models[p] ?? []).map { k, c in
                        .object([
                            "model": .string(Self.text(k)), "tokens": .int(c.tokens), "input_tokens": .int(c.input),
                            "output_tokens": .int(c.output),
                        ])
                    })
            }
            func daily(_ rows: [([UInt8], Counters)]) -> JSON {
                .array(
                    rows.sorted { $0.0.lexicographicallyPrecedes($1.0) }.map { k, c in
                        .object(["day": .string(Self.text(k)), "tokens": .int(c.tokens)])
                    })
            }
            var pods: [JSON] = []
            for p in selected {
                let c = configs[p]!
                let u = used[p] ?? 0
                let remaining: Int64 = c.budget == -1 ? -1 : max(0, c.budget - u)
                let paused = c.action == .pause && c.budget != -1 && !resumed.contains(p) && u >= c.budget
                pods.append(
                    .object([
                        "pod": .string(Self.text(p)), "used": .int(u), "budget": .int(c.budget),
                        "remaining": .int(remaining), "paused": .bool(paused), "by_model": byModel(p),
                        "by_task": .array(
                            Self.ranked(tasks[p] ?? []).map { k, c in
                                .object(["task": .string(Self.text(k)), "tokens": .int(c.tokens)])
                            }),
                        "daily": daily(days[p] ?? []),
                    ]))
            }
            var out: JSONObject = ["pods": .array(pods)]
            // Added: the team as a whole this cycle, and its users (from the daily counters).
            var users: [[UInt8]: Counters] = [:]
            if let firstDay {
                let dailyDB = try store.active(.daily, txn)
                try Self.scan(txn, dailyDB, team: t, prefix: [], from: firstDay) { rest, v in
                    guard rest.count > 11, rest[10] == 0, let c = Counters(encoded: v) else { return }
                    users[Array(rest[11...]), default: Counters()] += c
                }
            }
            out["team"] = .object([
                "used": .int(used[[]] ?? 0),
                "cycle_first_day": firstDay.map { .string(Self.text($0)) } ?? .null,
                "by_model": byModel([]),
                "by_user": .array(
                    Self.ranked(users.map { ($0.key, $0.value) }).map { k, c in
                        .object(["user": .string(Self.text(k)), "tokens": .int(c.tokens)])
                    }),
                "daily": daily(days[[]] ?? []),
            ])
            return out
        }
    }

    /// Tokens descending, then key in byte order.
    static func ranked(_ rows: [([UInt8], Counters)]) -> [([UInt8], Counters)] {
        rows.sorted { a, b in
            a.1.tokens != b.1.tokens ? a.1.tokens > b.1.tokens : a.0.lexicographicallyPrecedes(b.0)
        }
    }

    static func text(_ b: [UInt8]) -> String { String(decoding: b, as: UTF8.self) }

    // MARK: report

    struct PeriodBucket {
        var label: String
        var start: LocalDay
        var rows: [[UInt8]?: Counters] = [:]
    }

    public func report(_ q: ReportQuery) throws -> JSONObject {
        let t = Array(q.team.string.utf8)
        let dim: ReportDimensionKey =
            switch q.by {
            case .model?, nil: .model
            case .user?: .user
            case .pod?: .pod
            case .task?: .task
            case .operation?: .operation
            }
        let period = q.period
        func start(_ d: LocalDay) -> LocalDay {
            switch period {
            case .day: d
            case .week: d.isoWeekMonday
            case .month: d.firstOfMonth
            }
        }
        func label(_ s: LocalDay) -> String {
            switch period {
            case .day: s.description
            case .week: s.isoWeekLabel
            case .month: s.monthLabel
            }
        }
        func previous(_ s: LocalDay) -> LocalDay {
            switch period {
            case .day: s.adding(days: -1)
            case .week: s.adding(days: -7)
            case .month: s.firstOfPreviousMonth
            }
        }
        func end(_ s: LocalDay) -> LocalDay {
            switch period {
            case .day: s
            case .week: s.adding(days: 6)
            case .month: s.firstOfNextMonth.adding(days: -1)
            }
        }
        // Whole buckets: every bucket holding a day in from...to, and the one before the first
        // (for change_pct).
        let firstStart = q.from.map { start($0) }
        let lastStart = q.to.map { start($0) }
        let scanFrom = firstStart.map { period == .day ? $0 : previous($0) }
        let scanThrough = lastStart.map { end($0) }

        return try store.env.read { txn in
            let pods = try store.active(.pods, txn)
            guard try teamExists(txn, pods, t) else { throw Rejection.notFound("team \(q.team) not found") }
            let db = try store.active(.reports, txn)
            var buckets: [LocalDay: PeriodBucket] = [:]
            var dayCache: [[UInt8]: LocalDay] = [:]
            try Self.scan(
                txn, db, team: t, prefix: [dim.rawValue], from: scanFrom.map { Array($0.description.utf8) } ?? [],
                through: scanThrough.map { Array($0.description.utf8) }
            ) { rest, v in
                guard rest.count >= 10, let c = Counters(encoded: v) else { return }
                let dayBytes = Array(rest[0..<10])
                let day: LocalDay
                if let d = dayCache[dayBytes] {
                    day = d
                } else {
                    guard let d = LocalDay(string: Self.text(dayBytes)) else { return }
                    dayCache[dayBytes] = d
                    day = d
                }
                let s = start(day)
                let key: [UInt8]? = q.by == nil || rest.count == 10 ? nil : Array(rest[10...])
                buckets[s, default: PeriodBucket(label: label(s), start: s)].rows[key, default: Counters()] += c
            }
            var rows: [JSON] = []
            var truncated = false
            let shown = buckets.keys.filter { s in
                (firstStart.map { s >= $0 } ?? true) && (lastStart.map { s <= $0 } ?? true)
            }.sorted()
            output: for s in shown {
                let b = buckets[s]!
                let total = b.rows.values.reduce(Int64(0)) { $0 + $1.tokens }
                let before = period == .day ? nil : buckets[previous(s)]
                let ordered = b.rows.sorted { x, y in
                    if x.value.tokens != y.value.tokens { return x.value.tokens > y.value.tokens }
                    switch (x.key, y.key) {
                    case (let a?, let b?): return a.lexicographicallyPrecedes(b)
                    case (.some, nil): return true
                    default: return false
                    }
                }
                for (key, c) in ordered {
                    if rows.count == q.limit {
                        truncated = true
                        break output
                    }
                    var o: JSONObject = ["bucket": .string(b.label)]
                    if let key { o["key"] = .string(Self.text(key)) }
                    o["tokens"] = .int(c.tokens)
                    o["input_tokens"] = .int(c.input)
                    o["output_tokens"] = .int(c.output)
                    o["events"] = .int(c.events)
                    o["share_pct"] = Percent.of(c.tokens, total)
                    if period != .day {
                        let prev = before?.rows[key]?.tokens ?? 0
                        o["change_pct"] = Percent.of(c.tokens - prev, prev)
                    }
                    rows.append(.object(o))
                }
            }
            return ["rows": .array(rows), "truncated": .bool(truncated)]
        }
    }
}

/// Percentages rounded half away from zero to 2 decimals, computed exactly.
public enum Percent {
    /// num / den × 100; null when `den` is not positive.
    public static func of(_ num: Int64, _ den: Int64) -> JSON {
        guard den > 0 else { return .null }
        let a = Int128(num.magnitude) * 10_000
        var h = a / Int128(den)
        if 2 * (a % Int128(den)) >= Int128(den) { h += 1 }
        let whole = h / 100
        let frac = Int(h % 100)
        var s = num < 0 && h != 0 ? "-" : ""
        s += String(whole)
        if frac != 0 {
            s += "."
            s += frac % 10 == 0 ? String(frac / 10) : (frac < 10 ? "0\(frac)" : String(frac))
        }
        return .number(JSONNumber(lexeme: s))
    }
}
