/// Time enters the ledger only as events the scheduler appends, stamped with their due
/// instants (PROTOCOL §6). Events due at one instant go: expiries → `daily_reset` →
/// `cycle_started`, each phase by team id.
public struct Scheduler: Sendable {
    /// Each team's next local midnight, kept so that a scan does not redo zone arithmetic.
    private var midnight: [ID: Instant] = [:]
    private var cachedNext: Instant?

    public init() {}

    /// Forget cached instants (after a team is created, or the state was reloaded).
    public mutating func invalidate() {
        cachedNext = nil
    }

    /// Something became due at `instant` (a hold's or a bonus's expiry): keep the cache honest
    /// without a rescan.
    public mutating func noteDue(_ instant: Instant) {
        if let c = cachedNext, instant < c { cachedNext = instant }
    }

    public mutating func reset() {
        midnight = [:]
        cachedNext = nil
    }

    /// The earliest instant strictly after `cursor` at which something may be due.
    public mutating func nextDue(state: LedgerState, cursor: Instant) -> Instant? {
        if let c = cachedNext, c > cursor { return c }
        var best: Instant?
        func consider(_ t: Instant) {
            if t > cursor && (best == nil || t < best!) { best = t }
        }
        for (id, t) in state.teams {
            var m = midnight[id] ?? t.zone.nextDayStart(after: cursor)
            if m <= cursor { m = t.zone.nextDayStart(after: cursor) }
            midnight[id] = m
            consider(m)
            consider(t.cycleEnd)
            for b in t.buckets where b.source == .bonus {
                if let x = b.expiresAt { consider(x) }
            }
        }
        for h in state.holds.values { consider(h.expiresAt) }
        cachedNext = best
        return best
    }

    /// Appends, through `append`, every event due at exactly `at`, phase by phase; `append`
    /// must apply the event to the state before returning, since later phases read it.
    public mutating func fire(
        at instant: Instant, state: inout LedgerState, append: (inout LedgerState, EventBody) -> Void
    ) {
        let ids = state.teams.keys.sorted()
        // Phase: bonus expiries (only an unspent part appends), by team id then bonus seq.
        for id in ids {
            guard let t = state.teams[id] else { continue }
            for b in t.buckets where b.source == .bonus && b.expiresAt == instant && b.amount > 0 {
                append(&state, .bonusExpired(team: id, bonusSeq: b.seq, amount: b.amount))
            }
        }
        // Phase: hold expiries, by team id then hold seq.
        let expiring = state.holds.values.filter { $0.expiresAt == instant }.sorted {
            ($0.tags.team, $0.seq) < ($1.tags.team, $1.seq)
        }
        for h in expiring {
            append(&state, .holdExpired(holdSeq: h.seq, team: h.tags.team, released: h.amount))
        }
        // Phase: daily resets, only where a counter is not zero.
        for id in ids where midnight[id] == instant {
            guard let t = state.teams[id] else { continue }
            let day = t.zone.day(of: instant)
            let busy = t.consumedToday != 0 || t.users.values.contains { $0.consumedToday != 0 }
            if busy {
                append(&state, .dailyReset(team: id, user: nil, day: day, manual: false))
            }
            midnight[id] = t.zone.nextDayStart(after: instant)
        }
        // Phase: cycle starts.
        for id in ids {
            guard let t = state.teams[id], t.cycleEnd == instant else { continue }
            let planID = t.nextPlan ?? t.plan
            let allowance = state.plans[planID]?.monthlyTokens ?? t.currentPlan.monthlyTokens
            let lapsed = t.buckets.filter { $0.source == .allowance }.reduce(0) { $0 + $1.amount }
            let end = t.zone.nextCycleStart(after: instant, anchor: Int(t.cycleAnchor))
            append(
                &state,
                .cycleStarted(
                    team: id, plan: planID, allowance: allowance, cycleStart: instant, cycleEnd: end, lapsed: lapsed))
        }
        cachedNext = nil
    }
}
