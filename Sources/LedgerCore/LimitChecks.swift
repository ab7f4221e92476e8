/// The checks of PROTOCOL §8, in order, and the spend order of buckets.
public enum LimitChecks {
    /// The first limit that refuses `cost`, or nil. Reaching a limit exactly is allowed;
    /// held tokens count as spent.
    public static func check(team t: TeamState, tags: UsageTags, cost: Int64) -> Rejection? {
        if let r = budget(
            t.budget, knownTask: isKnownTask(t, tags), cost: cost, scope: .teamBudget, name: "team \(t.id)")
        {
            return r
        }
        if let podID = tags.pod, let p = t.pods[podID],
            let r = budget(
                p.budget, knownTask: isKnownTask(t, tags), cost: cost, scope: .podBudget, name: "pod \(podID)")
        {
            return r
        }
        if t.dailyLimit != -1 && t.consumedToday + t.held + cost > t.dailyLimit {
            return Rejection(
                .dailyLimitExceeded,
                "team \(t.id) would pass its daily limit (\(t.consumedToday) used + \(t.held) held + \(cost) > \(t.dailyLimit))",
                scope: .teamDaily)
        }
        if let u = t.users[tags.user] {
            if u.dailyLimit != -1 && u.consumedToday + u.held + cost > u.dailyLimit {
                return Rejection(
                    .dailyLimitExceeded,
                    "user \(tags.user) would pass its daily limit (\(u.consumedToday) used + \(u.held) held + \(cost) > \(u.dailyLimit))",
                    scope: .userDaily)
            }
            if u.allocation != -1 && u.consumedCycle + u.held + cost > u.allocation {
                return Rejection(
                    .insufficientTokens,
                    "user \(tags.user) has \(max(0, u.allocationLeft - u.held)) of its allocation left, \(cost) needed",
                    scope: .allocation)
            }
        }
        if !t.unlimited {
            let available = t.available
            if cost > available {
                return Rejection(
                    .insufficientTokens, "team \(t.id) has \(available) tokens available, \(cost) needed", scope: .pool)
            }
        }
        return nil
    }

    /// `name` is only formatted for a refusal: this runs for every consume.
    static func budget(
        _ b: BudgetState, knownTask: @autoclosure () -> Bool, cost: Int64, scope: LimitScope,
        name: @autoclosure () -> String
    ) -> Rejection? {
        guard b.budget != -1, !b.resumed else { return nil }
        switch b.action {
        case .alert:
            return nil
        case .pause:
            if b.paused {
                return Rejection(.budgetExceeded, "\(name()) is paused: its budget is used up", scope: scope)
            }
            if b.used + b.held + cost > b.budget {
                return Rejection(
                    .budgetExceeded,
                    "\(name()) would pass its budget (\(b.used) used + \(b.held) held + \(cost) > \(b.budget))",
                    scope: scope)
            }
        case .blockNewTasks:
            if !knownTask() && b.used + b.held + cost > b.budget {
                return Rejection(.budgetExceeded, "\(name()) is over its budget: new tasks are blocked", scope: scope)
            }
        }
        return nil
    }

    /// A task is known from its first use in its pod, or, named without a pod, in its team.
    static func isKnownTask(_ t: TeamState, _ tags: UsageTags) -> Bool {
        guard let task = tags.task else { return false }
        guard let pod = tags.pod else { return t.tasks.contains(task) }
        return t.pods[pod]?.tasks.contains(task) ?? false
    }

    /// Takes `cost` from the buckets in spend order; what they cannot cover is overdraft.
    /// An unlimited pool never draws.
    public static func draws(team t: TeamState, cost: Int64) -> (draws: [Draw], overdraft: Int64) {
        if t.unlimited { return ([], 0) }
        var left = cost
        var out: [Draw] = []
        for b in t.buckets where left > 0 && b.amount > 0 {
            let take = min(b.amount, left)
            out.append(Draw(bucketSeq: b.seq, amount: take))
            left -= take
        }
        return (out, left)
    }
}
