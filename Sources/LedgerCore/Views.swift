import LedgerJSON

/// The figures answers show (PROTOCOL §5 `balance`/`check`, §8 `status` and `warnings`),
/// computed from the write-side state.
public enum Views {
    /// §8: E is the least of what is left of the pool, the user's allocation and the team's
    /// and user's daily limits (unlimited ones skipped). red when E = 0, yellow when
    /// E < 20% of (E + consumed_cycle), else green.
    public static func status(team t: TeamState, user: UserState?) -> (status: String, warnings: [String]) {
        let s = standing(team: t, user: user)
        var warnings: [String] = []
        if s.nearDailyLimit { warnings.append("near_daily_limit") }
        if s.status == .yellow { warnings.append("low_balance") }
        if s.overdraft { warnings.append("overdraft") }
        return (s.status.rawValue, warnings)
    }

    public enum Status: String, Sendable {
        case green, yellow, red
    }

    /// `status`'s figures without allocating: the answer writers run it for every consume.
    /// The warnings are, in this order: `near_daily_limit`, `low_balance` (yellow), `overdraft`.
    public static func standing(team t: TeamState, user: UserState?) -> (
        status: Status, nearDailyLimit: Bool, overdraft: Bool
    ) {
        var e: Int64?
        func consider(_ x: Int64) { e = min(e ?? x, max(0, x)) }
        // Held tokens count as spent, as in every check.
        if !t.unlimited { consider(t.available) }
        if t.dailyLimit != -1 { consider(t.dailyLimit - t.consumedToday - t.held) }
        if let u = user {
            if u.allocation != -1 { consider(u.allocationLeft - u.held) }
            if u.dailyLimit != -1 { consider(u.dailyLimit - u.consumedToday - u.held) }
        }
        var status = Status.green
        if let e {
            if e == 0 {
                status = .red
            } else if 4 * Int128(e) < Int128(t.consumedCycle) {
                // E < 0.2 (E + C)  ⇔  4E < C, in integers.
                status = .yellow
            }
        }
        let nearTeam = t.dailyLimit != -1 && 5 * Int128(t.consumedToday) >= 4 * Int128(t.dailyLimit)
        let nearUser =
            user.map { $0.dailyLimit != -1 && 5 * Int128($0.consumedToday) >= 4 * Int128($0.dailyLimit) } ?? false
        return (status, nearTeam || nearUser, t.overdraft > 0)
    }

    public static func user(_ id: ID, _ u: UserState) -> JSON {
        .object([
            "user": .string(id.string),
            "allocation_left": .int(u.allocationLeft),
            "consumed_today": .int(u.consumedToday),
            "daily_limit": .int(u.dailyLimit),
        ])
    }

    /// The figures every money answer carries: available, consumed today, status, warnings, user.
    public static func figures(team t: TeamState, user uid: ID?, into o: inout JSONObject) {
        let u = uid.flatMap { t.users[$0] }
        let (status, warnings) = status(team: t, user: u)
        o["available"] = .int(t.available)
        o["consumed_today"] = .int(t.consumedToday)
        o["status"] = .string(status)
        o["warnings"] = .array(warnings.map { .string($0) })
        if let uid, let u { o["user"] = user(uid, u) }
    }

    public static func balance(team t: TeamState, user uid: ID?, now: Instant) -> JSONObject {
        var o = JSONObject()
        o["available"] = .int(t.available)
        o["overdraft"] = .int(t.overdraft)
        o["buckets"] = .array(
            t.buckets.filter { $0.amount > 0 }.map { b in
                .object([
                    "seq": .int(b.seq), "source": .string(b.source.rawValue), "amount": .int(b.amount),
                    "expires_at": b.expiresAt.map { .string($0.rfc3339) } ?? .null,
                ])
            })
        o["held"] = .int(t.held)
        o["consumed_today"] = .int(t.consumedToday)
        o["daily_limit"] = .int(t.dailyLimit)
        o["resets_at"] = .string(t.zone.nextDayStart(after: now).rfc3339)
        o["consumed_cycle"] = .int(t.consumedCycle)
        o["cycle_start"] = .string(t.cycleStart.rfc3339)
        o["cycle_end"] = .string(t.cycleEnd.rfc3339)
        o["monthly_budget"] = .int(t.monthlyBudget)
        o["budget_used"] = .int(t.consumedCycle)
        o["paused"] = .bool(t.paused)
        let u = uid.flatMap { t.users[$0] }
        let (status, warnings) = status(team: t, user: u)
        o["status"] = .string(status)
        o["warnings"] = .array(warnings.map { .string($0) })
        o["plan"] = .string(t.plan.string)
        o["next_plan"] = t.nextPlan.map { .string($0.string) } ?? .null
        o["timezone"] = .string(t.timezone)
        if let uid, let u { o["user"] = user(uid, u) }
        return o
    }
}

// MARK: - Answers written as bytes

/// The figures of the hot answers, taken on the writer as plain numbers (no JSON tree, no
/// bytes: the writer is the daemon's bottleneck) and written as RFC 8785 bytes by the
/// connection that answers. The engine asserts (debug builds) that the bytes equal the
/// generic serialisation of the fields it used to build.
extension Views {
    /// The standing and the user's figures that every money answer shows (`figures(team:user:into:)`).
    public struct Standing: Sendable, Equatable {
        public var available: Int64
        public var consumedToday: Int64
        public var status: Status
        public var nearDailyLimit: Bool
        public var overdraft: Bool
        public var user: UserFigures?

        public init(team t: TeamState, user uid: ID) {
            let u = t.users[uid]
            let s = Views.standing(team: t, user: u)
            available = t.available
            consumedToday = t.consumedToday
            status = s.status
            nearDailyLimit = s.nearDailyLimit
            overdraft = s.overdraft
            user = u.map {
                UserFigures(
                    user: uid, allocationLeft: $0.allocationLeft, consumedToday: $0.consumedToday,
                    dailyLimit: $0.dailyLimit)
            }
        }
    }

    public struct UserFigures: Sendable, Equatable {
        public var user: ID
        public var allocationLeft: Int64
        public var consumedToday: Int64
        public var dailyLimit: Int64
    }

    /// `consume` (PROTOCOL §5): `{available, consumed_today, cost, duplicate?, id?, ok, seq,
    /// status, user?, warnings}`.
    public struct ConsumeFigures: Sendable, Equatable {
        public var seq: UInt64
        public var cost: Int64
        public var duplicate: Bool
        public var standing: Standing

        public init(seq: UInt64, cost: Int64, duplicate: Bool, standing: Standing) {
            self.seq = seq
            self.cost = cost
            self.duplicate = duplicate
            self.standing = standing
        }

        public func line(id: JSON?) -> [UInt8] {
            var w = CanonicalWriter(capacity: 256)
            w.beginObject()
            w.key("available"); w.int(standing.available)
            w.key("consumed_today"); w.int(standing.consumedToday)
            w.key("cost"); w.int(cost)
            if duplicate { w.key("duplicate"); w.bool(true) }
            if let id { w.key("id"); w.value(id) }
            w.key("ok"); w.bool(true)
            w.key("seq"); w.uint(seq)
            Views.write(standing, to: &w)
            w.endObject()
            return w.bytes
        }
    }

    /// `check` (PROTOCOL §5): `{allowed, available, consumed_today, cost, daily_limit, id?,
    /// message?, ok, reason?, resets_at, scope?, status, user?, warnings}`.
    public struct CheckFigures: Sendable, Equatable {
        public var cost: Int64
        public var refusal: Rejection?
        public var dailyLimit: Int64
        public var resetsAt: Instant
        public var standing: Standing

        public init(cost: Int64, refusal: Rejection?, dailyLimit: Int64, resetsAt: Instant, standing: Standing) {
            self.cost = cost
            self.refusal = refusal
            self.dailyLimit = dailyLimit
            self.resetsAt = resetsAt
            self.standing = standing
        }

        public func line(id: JSON?) -> [UInt8] {
            var w = CanonicalWriter(capacity: 320)
            w.beginObject()
            w.key("allowed"); w.bool(refusal == nil)
            w.key("available"); w.int(standing.available)
            w.key("consumed_today"); w.int(standing.consumedToday)
            w.key("cost"); w.int(cost)
            w.key("daily_limit"); w.int(dailyLimit)
            if let id { w.key("id"); w.value(id) }
            if let refusal { w.key("message"); w.string(refusal.message) }
            w.key("ok"); w.bool(true)
            if let refusal { w.key("reason"); w.string(refusal.code.rawValue) }
            w.key("resets_at"); w.instant(resetsAt)
            if let scope = refusal?.scope { w.key("scope"); w.string(scope.rawValue) }
            Views.write(standing, to: &w)
            w.endObject()
            return w.bytes
        }
    }

    /// `status`, `user` (when there is one) and `warnings`, as `figures` has them.
    private static func write(_ s: Standing, to w: inout CanonicalWriter) {
        w.key("status")
        switch s.status {
        case .green: w.string("green")
        case .yellow: w.string("yellow")
        case .red: w.string("red")
        }
        if let u = s.user {
            w.key("user")
            w.beginObject()
            w.key("allocation_left"); w.int(u.allocationLeft)
            w.key("consumed_today"); w.int(u.consumedToday)
            w.key("daily_limit"); w.int(u.dailyLimit)
            w.key("user"); w.string(u.user.string)
            w.endObject()
        }
        w.key("warnings")
        w.beginArray()
        if s.nearDailyLimit { w.string("near_daily_limit") }
        if s.status == .yellow { w.string("low_balance") }
        if s.overdraft { w.string("overdraft") }
        w.endArray()
    }
}
