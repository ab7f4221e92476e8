/// The figures answers show (PROTOCOL §5 `balance`/`check`, §8 `status` and `warnings`),
/// computed from the write-side state.
public enum Views {
    /// §8: E is the least of what is left of the pool, the user's allocation and the team's
    /// and user's daily limits (unlimited ones skipped). red when E = 0, yellow when
    /// E < 20% of (E + consumed_cycle), else green.
    public static func status(team t: TeamState, user: UserState?) -> (status: String, warnings: [String]) {
        var e: Int64?
        func consider(_ x: Int64) { e = min(e ?? x, max(0, x)) }
        // Held tokens count as spent, as in every check.
        if !t.unlimited { consider(t.available) }
        if t.dailyLimit != -1 { consider(t.dailyLimit - t.consumedToday - t.held) }
        if let u = user {
            if u.allocation != -1 { consider(u.allocationLeft - u.held) }
            if u.dailyLimit != -1 { consider(u.dailyLimit - u.consumedToday - u.held) }
        }
        var status = "green"
        if let e {
            if e == 0 {
                status = "red"
            } else if 4 * Int128(e) < Int128(t.consumedCycle) {
                // E < 0.2 (E + C)  ⇔  4E < C, in integers.
                status = "yellow"
            }
        }
        var warnings: [String] = []
        let nearTeam = t.dailyLimit != -1 && 5 * Int128(t.consumedToday) >= 4 * Int128(t.dailyLimit)
        let nearUser =
            user.map { $0.dailyLimit != -1 && 5 * Int128($0.consumedToday) >= 4 * Int128($0.dailyLimit) } ?? false
        if nearTeam || nearUser { warnings.append("near_daily_limit") }
        if status == "yellow" { warnings.append("low_balance") }
        if t.overdraft > 0 { warnings.append("overdraft") }
        return (status, warnings)
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

/// The hot answers written straight to RFC 8785 bytes: keys in sorted order, figures as
/// `figures(team:user:into:)` computes them. The engine asserts (debug builds) that each equals
/// the generic serialisation of the same fields.
extension Views {
    /// `consume` (PROTOCOL §5): `{available, consumed_today, cost, duplicate?, ok, seq, status,
    /// user?, warnings}`.
    public static func consumeAnswer(
        seq: UInt64, cost: Int64, team t: TeamState, user uid: ID, duplicate: Bool
    ) -> CanonicalAnswer {
        let u = t.users[uid]
        let (status, warnings) = status(team: t, user: u)
        var w = CanonicalWriter(capacity: 256)
        w.beginObject()
        w.key("available"); w.int(t.available)
        w.key("consumed_today"); w.int(t.consumedToday)
        w.key("cost"); w.int(cost)
        if duplicate { w.key("duplicate"); w.bool(true) }
        let idAt = w.bytes.count
        w.key("ok"); w.bool(true)
        w.key("seq"); w.uint(seq)
        w.key("status"); w.string(status)
        if let u { writeUser(uid, u, to: &w) }
        writeWarnings(warnings, to: &w)
        w.endObject()
        return CanonicalAnswer(bytes: w.bytes, idAt: idAt)
    }

    /// `check` (PROTOCOL §5): `{allowed, available, consumed_today, cost, daily_limit, message?,
    /// ok, reason?, resets_at, scope?, status, user?, warnings}`.
    public static func checkAnswer(
        cost: Int64, refusal: Rejection?, team t: TeamState, user uid: ID, now: Instant
    ) -> CanonicalAnswer {
        let u = t.users[uid]
        let (status, warnings) = status(team: t, user: u)
        var w = CanonicalWriter(capacity: 320)
        w.beginObject()
        w.key("allowed"); w.bool(refusal == nil)
        w.key("available"); w.int(t.available)
        w.key("consumed_today"); w.int(t.consumedToday)
        w.key("cost"); w.int(cost)
        w.key("daily_limit"); w.int(t.dailyLimit)
        let idAt = w.bytes.count
        if let refusal { w.key("message"); w.string(refusal.message) }
        w.key("ok"); w.bool(true)
        if let refusal { w.key("reason"); w.string(refusal.code.rawValue) }
        w.key("resets_at"); w.instant(t.zone.nextDayStart(after: now))
        if let scope = refusal?.scope { w.key("scope"); w.string(scope.rawValue) }
        w.key("status"); w.string(status)
        if let u { writeUser(uid, u, to: &w) }
        writeWarnings(warnings, to: &w)
        w.endObject()
        return CanonicalAnswer(bytes: w.bytes, idAt: idAt)
    }

    /// `"user":{...}` as `user(_:_:)` has it.
    private static func writeUser(_ id: ID, _ u: UserState, to w: inout CanonicalWriter) {
        w.key("user")
        w.beginObject()
        w.key("allocation_left"); w.int(u.allocationLeft)
        w.key("consumed_today"); w.int(u.consumedToday)
        w.key("daily_limit"); w.int(u.dailyLimit)
        w.key("user"); w.string(id.string)
        w.endObject()
    }

    private static func writeWarnings(_ warnings: [String], to w: inout CanonicalWriter) {
        w.key("warnings")
        w.beginArray()
        for x in warnings { w.string(x) }
        w.endArray()
    }
}
