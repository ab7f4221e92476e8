/// How events change a team: the parts of `LedgerState.apply` that concern one team.
extension TeamState {
    mutating func configure(
        dailyLimit: Int64?, budget newBudget: Int64?, action: BudgetAction?, alertAt: [Int64]?, plan: ID?
    ) {
        if let dailyLimit { self.dailyLimit = dailyLimit }
        if let action { budget.action = action }
        if let alertAt { self.alertAt = alertAt }
        if let plan { nextPlan = plan }
        if let newBudget {
            budget.budget = newBudget
            budget.rearm()
            for k in pods.keys { pods[k]!.budget.rearm() }
        }
    }

    /// A new billing cycle: cycle counters and budgets start over, unused allowance lapses (with
    /// spent-out expired bonuses), and the new allowance repays overdraft first.
    mutating func startCycle(plan: ID, figures: Plan?, allowance: Int64, start: Instant, end: Instant, seq: UInt64) {
        precondition(start < end, "a cycle ends after it starts")
        buckets.removeAll { $0.source == .allowance || ($0.expiresAt.map { $0 <= start } ?? false) }
        self.plan = plan
        currentPlan = figures ?? currentPlan
        nextPlan = nil
        cycleStart = start
        cycleEnd = end
        budget.used = 0
        budget.resumed = false
        budget.alerted = []
        for k in pods.keys {
            pods[k]!.budget.used = 0
            pods[k]!.budget.resumed = false
            pods[k]!.budget.alerted = []
        }
        for k in users.keys { users[k]!.consumedCycle = 0 }
        unlimited = allowance == -1
        if allowance > 0 {
            let rest = repayOverdraft(allowance)
            insertBucket(Bucket(seq: seq, source: .allowance, amount: rest, expiresAt: end))
        } else if allowance == -1 {
            overdraft = 0
        }
    }

    /// A credit (top-up, bonus): it repays overdraft first; the rest is a bucket named by `seq`.
    mutating func credit(_ amount: Int64, source: BucketSource, seq: UInt64, expiresAt: Instant?) {
        precondition(amount >= 0, "credits are not negative")
        let rest = repayOverdraft(amount)
        insertBucket(Bucket(seq: seq, source: source, amount: rest, expiresAt: expiresAt))
    }

    /// A consumption booked (`consumed`, or the cost of `hold_committed` once its escrow went
    /// back): the counters move to its day, its draws come out, the rest is overdraft.
    mutating func book(
        _ tags: UsageTags, cost: Int64, day: LocalDay, draws: [Draw], overdraft more: Int64, at ts: Instant
    ) {
        precondition(cost >= 0 && more >= 0, "a booking is not negative")
        rollDay(to: day)
        takeDraws(draws, at: ts)
        overdraft += more
        countConsumption(tags, cost: cost)
    }

    /// A `daily_reset`: of one user, of the team and all its users (manual), or the scheduler's
    /// at local midnight, which also moves the counters to the new day.
    mutating func reset(user: ID?, day: LocalDay, manual: Bool) {
        if let user {
            users[user]?.consumedToday = 0
        } else if manual {
            consumedToday = 0
            for k in users.keys { users[k]!.consumedToday = 0 }
        } else {
            resetDaily(to: day)
        }
    }

    /// A `reversed` event: draws go back to buckets still spendable; a consumption's counters go
    /// down (never below 0), a credit loses its unspent part.
    mutating func reverse(_ r: Reversal, seq: UInt64, at ts: Instant) {
        returnDraws(r.restored, at: ts)
        if let origin = r.origin {
            uncount(origin, amount: r.amount, reversalSeq: seq)
        } else if let i = buckets.firstIndex(where: { $0.seq == r.reversesSeq }) {
            precondition(buckets[i].amount >= r.amount, "a credit loses at most its unspent part")
            buckets[i].amount -= r.amount
        }
    }

    mutating func countConsumption(_ tags: UsageTags, cost: Int64) {
        consumedToday += cost
        budget.used += cost
        // In the dictionaries' slots: one hash each, no copy.
        if let i = users.index(forKey: tags.user) {
            users.values[i].consumedToday += cost
            users.values[i].consumedCycle += cost
        }
        if let pod = tags.pod, let i = pods.index(forKey: pod) { pods.values[i].budget.used += cost }
        noteTask(tags)
    }

    /// Takes a reversed amount back out of the counters of the original's day and cycle.
    /// No counter goes below 0 (PROTOCOL §5): a manual `reset` may have zeroed a counter the
    /// original was counted in, and the reversal then lowers it to 0 and no further.
    mutating func uncount(_ origin: Reversal.Origin, amount: Int64, reversalSeq: UInt64) {
        precondition(amount >= 0, "a reversal takes a non-negative amount")
        func lower(_ counter: inout Int64) { counter = max(0, counter - amount) }
        if origin.uncountDay { lower(&consumedToday) }
        if origin.uncountCycle { lower(&budget.used) }
        if var u = users[origin.user] {
            if origin.uncountDay { lower(&u.consumedToday) }
            if origin.uncountCycle { lower(&u.consumedCycle) }
            users[origin.user] = u
        }
        if origin.uncountCycle, let pod = origin.pod, pods[pod] != nil { lower(&pods[pod]!.budget.used) }
        let overdraftPart = origin.overdraft
        // The overdraft part reduces the overdraft; what was already repaid of it comes back
        // as a top-up bucket named by the reversal.
        let reduce = min(overdraft, overdraftPart)
        overdraft -= reduce
        if overdraftPart > reduce {
            insertBucket(Bucket(seq: reversalSeq, source: .topup, amount: overdraftPart - reduce, expiresAt: nil))
        }
    }
}
