public enum Decider {
    public static func decide(_ command: Command, state s: LedgerState, context ctx: DecideContext) -> Result<
        [EventBody], Rejection
    > {
        do throws(Rejection) {
            return .success(try decideThrowing(command, s, ctx))
        } catch {
            return .failure(error)
        }
    }

    static func team(_ s: LedgerState, _ id: ID) throws(Rejection) -> TeamState {
        guard let t = s.teams[id] else { throw .notFound("team \(id) not found") }
        return t
    }

    static func activeUser(_ t: TeamState, _ id: ID) throws(Rejection) -> UserState {
        guard let u = t.users[id], !u.removed else { throw .notFound("user \(id) not found in team \(t.id)") }
        return u
    }

    static func activePod(_ t: TeamState, _ id: ID) throws(Rejection) -> PodState {
        guard let p = t.pods[id], !p.archived else { throw .notFound("pod \(id) not found in team \(t.id)") }
        return p
    }

    static func decideThrowing(_ command: Command, _ s: LedgerState, _ ctx: DecideContext) throws(Rejection)
        -> [EventBody]
    {
        switch command {
        case .teamCreate(let team, let plan, let timezone, let dailyLimit):
            return try teamCreate(team: team, plan: plan, timezone: timezone, dailyLimit: dailyLimit, s, ctx)

        case .teamConfigure(let team, let dailyLimit, let budget, let action, let alertAt, let plan):
            _ = try Decider.team(s, team)
            if let plan, s.plans[plan] == nil { throw .notFound("plan \(plan) is not defined") }
            let alerts = alertAt.map { Array(Set($0)).sorted() }
            return [
                .teamConfigured(
                    team: team, dailyLimit: dailyLimit, monthlyBudget: budget, budgetAction: action, alertAt: alerts,
                    plan: plan)
            ]

        case .teamResume(let team):
            _ = try Decider.team(s, team)
            return [.teamResumed(team: team)]

        case .podResume(let team, let pod):
            _ = try activePod(try Decider.team(s, team), pod)
            return [.podResumed(team: team, pod: pod)]

        case .userAdd(let team, let user, let dailyLimit):
            let t = try Decider.team(s, team)
            if t.users[user] != nil { throw .alreadyExists("user \(user) exists in team \(team)") }
            let limits = t.currentPlan
            if limits.maxMembers != -1 && Int64(t.activeUsers) >= limits.maxMembers {
                throw Rejection(.planLimit, "plan \(t.plan) allows \(limits.maxMembers) member(s)", scope: .plan)
            }
            return [.userAdded(team: team, user: user, dailyLimit: dailyLimit ?? -1)]

        case .userRemove(let team, let user):
            _ = try activeUser(try Decider.team(s, team), user)
            return [.userRemoved(team: team, user: user)]

        case .userAssign(let team, let user, let amount):
            _ = try activeUser(try Decider.team(s, team), user)
            return [.userAssigned(team: team, user: user, amount: amount)]

        case .podCreate(let team, let pod, let budget, let action):
            let t = try Decider.team(s, team)
            if t.pods[pod] != nil { throw .alreadyExists("pod \(pod) exists in team \(team)") }
            let limits = t.currentPlan
            if limits.maxPods != -1 && Int64(t.activePods) >= limits.maxPods {
                throw Rejection(.planLimit, "plan \(t.plan) allows \(limits.maxPods) pod(s)", scope: .plan)
            }
            return [.podCreated(team: team, pod: pod, budget: budget ?? -1, budgetAction: action ?? .alert)]

        case .podConfigure(let team, let pod, let budget, let action):
            let p = try activePod(try Decider.team(s, team), pod)
            return [
                .podConfigured(
                    team: team, pod: pod, budget: budget ?? p.budget.budget, budgetAction: action ?? p.budget.action)
            ]

        case .podArchive(let team, let pod):
            let p = try activePod(try Decider.team(s, team), pod)
            return [.podArchived(team: team, pod: pod, budget: p.budget.budget, budgetAction: p.budget.action)]

        case .planDefine(let plan, let tokens, let pods, let members):
            return [.planDefined(plan: plan, monthlyTokens: tokens, maxPods: pods, maxMembers: members)]

        case .priceSet(let spec):
            return [.priceSet(spec)]

        case .topup(let team, let amount, let package):
            _ = try Decider.team(s, team)
            return [.topup(team: team, amount: amount, package: package)]

        case .bonusGrant(let team, let amount, let reason, let expiresAt):
            _ = try Decider.team(s, team)
            if let expiresAt, expiresAt <= ctx.now {
                throw .badRequest("\"expires_at\" must be after now (\(ctx.now.rfc3339))")
            }
            return [.bonusGranted(team: team, amount: amount, reason: reason, expiresAt: expiresAt)]

        case .reset(let team, let user):
            let t = try Decider.team(s, team)
            if let user { _ = try activeUser(t, user) }
            return [.dailyReset(team: team, user: user, day: t.zone.day(of: ctx.now), manual: true)]

        case .reverse(let seq, let reason, let amount):
            return [try reversal(seq: seq, reason: reason, amount: amount, s, ctx)]

        case .consume(let c):
            return try consume(c, s, ctx)

        case .hold(let h):
            return try hold(h, s, ctx)

        case .holdCommit(let holdSeq, let usage, let cost):
            return try holdCommit(holdSeq, usage: usage, cost: cost, s, ctx)

        case .holdRelease(let holdSeq):
            let hold = try openHold(holdSeq, s, ctx)
            return [.holdReleased(holdSeq: holdSeq, team: hold.tags.team, released: hold.amount)]
        }
    }

    static func teamCreate(
        team: ID, plan: ID?, timezone: String?, dailyLimit: Int64?, _ s: LedgerState, _ ctx: DecideContext
    ) throws(Rejection) -> [EventBody] {
        if s.teams[team] != nil { throw .alreadyExists("team \(team) exists") }
        let planID = plan ?? ID(trusted: "solo")
        guard let p = s.plans[planID] else { throw .notFound("plan \(planID) is not defined") }
        let tz = timezone ?? "UTC"
        guard let zone = ZoneCalendar(identifier: tz) else {
            throw .badRequest("unknown timezone \"\(tz)\" (use an IANA name like Europe/Madrid)")
        }
        let anchor = Int64(zone.day(of: ctx.now).day)
        let end = zone.nextCycleStart(after: ctx.now, anchor: Int(anchor))
        return [
            .teamCreated(
                team: team, plan: planID, timezone: zone.identifier,
                dailyLimit: dailyLimit ?? ctx.defaultDailyLimit,
                cycleAnchor: anchor),
            .cycleStarted(
                team: team, plan: planID, allowance: p.monthlyTokens, cycleStart: ctx.now, cycleEnd: end, lapsed: 0),
        ]
    }

    static func consume(_ c: ConsumeCommand, _ s: LedgerState, _ ctx: DecideContext) throws(Rejection) -> [EventBody] {
        let t = try team(s, c.tags.team)
        let cost = try price(c, team: t, state: s)
        if !c.record, let refusal = LimitChecks.check(team: t, tags: c.tags, cost: cost) { throw refusal }
        let (draws, overdraft) = LimitChecks.draws(team: t, cost: cost)
        precondition(c.record || overdraft == 0, "a checked consume never overdraws")
        assert(
            t.unlimited || draws.reduce(0) { $0 + $1.amount } + overdraft == cost, "draws and overdraft make the cost")
        let consumption = EventBody.consumed(
            Consumption(
                tags: c.tags, inputTokens: c.usage.inputTokens, outputTokens: c.usage.outputTokens,
                params: c.usage.params, cost: cost, day: t.zone.day(of: ctx.now), draws: draws,
                overdraft: overdraft, record: c.record))
        let alerts = Alerts.reached(team: t, tags: c.tags, cost: cost)
        return alerts.isEmpty ? [consumption] : [consumption] + alerts
    }

    static func hold(_ h: HoldCommand, _ s: LedgerState, _ ctx: DecideContext) throws(Rejection) -> [EventBody] {
        let probe = ConsumeCommand(tags: h.tags, usage: h.usage, cost: h.amount, record: false)
        let amount = try price(probe, state: s)
        let t = s.teams[h.tags.team]!
        if let refusal = LimitChecks.check(team: t, tags: h.tags, cost: amount) { throw refusal }
        let (draws, overdraft) = LimitChecks.draws(team: t, cost: amount)
        precondition(overdraft == 0, "a checked hold never overdraws")
        return [
            .holdPlaced(
                HoldPlacement(
                    tags: h.tags, amount: amount, expiresAt: ctx.now.adding(ms: h.ttlSeconds * 1000), draws: draws))
        ]
    }

    static func holdCommit(
        _ holdSeq: UInt64, usage: Usage, cost: Int64?, _ s: LedgerState, _ ctx: DecideContext
    ) throws(Rejection) -> [EventBody] {
        let hold = try openHold(holdSeq, s, ctx)
        let t = s.teams[hold.tags.team]!
        let actual: Int64
        if let cost {
            actual = cost
        } else if usage.isEmpty {
            actual = hold.amount
        } else {
            guard let price = hold.price else {
                throw .notFound("model \(hold.tags.model) had no price when the hold was placed; give \"cost\"")
            }
            actual = try Pricing.cost(usage, at: price).get().cost
        }
        // Up to the hold from escrow (in its draw order), beyond it from the buckets, the
        // rest as overdraft. Extra draws happen only once all escrow is used.
        let fromEscrow = min(actual, hold.amount)
        var draws: [Draw] = []
        var left = fromEscrow
        for d in hold.draws where left > 0 {
            let take = min(d.amount, left)
            draws.append(Draw(bucketSeq: d.bucketSeq, amount: take))
            left -= take
        }
        let (extra, overdraft) = LimitChecks.draws(team: t, cost: actual - fromEscrow)
        draws += extra
        let commitment = EventBody.holdCommitted(
            HoldCommitment(
                holdSeq: holdSeq, tags: hold.tags, inputTokens: usage.inputTokens, outputTokens: usage.outputTokens,
                cost: actual, day: t.zone.day(of: ctx.now), draws: draws, overdraft: overdraft,
                released: hold.amount - fromEscrow))
        return [commitment] + Alerts.reached(team: t, tags: hold.tags, cost: actual)
    }

    static func openHold(_ seq: UInt64, _ s: LedgerState, _ ctx: DecideContext) throws(Rejection) -> HoldState {
        if let h = s.holds[seq] { return h }
        if let e = ctx.referenced, e.seq == seq, case .holdPlaced = e.body {
            throw Rejection(.holdClosed, "hold \(seq) was already committed, released or expired", seq: seq)
        }
        throw .notFound("no hold \(seq)")
    }

    /// PROTOCOL §5 `reverse`.
    static func reversal(seq: UInt64, reason: String, amount: Int64?, _ s: LedgerState, _ ctx: DecideContext)
        throws(Rejection) -> EventBody
    {
        guard let original = ctx.referenced, original.seq == seq else {
            throw .notFound("seq \(seq) is not in the log")
        }
        if s.reversed.contains(seq) { throw .alreadyExists("seq \(seq) was already reversed") }
        switch original.body {
        case .consumed, .holdCommitted:
            let (tags, cost, day, draws, overdraft): (UsageTags, Int64, LocalDay, [Draw], Int64)
            switch original.body {
            case .consumed(let c): (tags, cost, day, draws, overdraft) = (c.tags, c.cost, c.day, c.draws, c.overdraft)
            case .holdCommitted(let c):
                (tags, cost, day, draws, overdraft) = (c.tags, c.cost, c.day, c.draws, c.overdraft)
            default: preconditionFailure()
            }
            let a = amount ?? cost
            guard a <= cost else { throw .badRequest("\"amount\" \(a) is above the original's \(cost)") }
            let t = try team(s, tags.team)
            // The overdraft part first, then the draws from last to first.
            let overdraftPart = min(a, overdraft)
            var rest = a - overdraftPart
            var restored: [Draw] = []
            var lapsed: Int64 = 0
            for d in draws.reversed() where rest > 0 {
                let take = min(d.amount, rest)
                rest -= take
                let live = t.buckets.contains { $0.seq == d.bucketSeq && ($0.expiresAt.map { ctx.now < $0 } ?? true) }
                if live { restored.append(Draw(bucketSeq: d.bucketSeq, amount: take)) } else { lapsed += take }
            }
            let origin = Reversal.Origin(
                user: tags.user, pod: tags.pod, overdraft: overdraftPart, uncountDay: day == t.zone.day(of: ctx.now),
                uncountCycle: original.ts >= t.cycleStart)
            return .reversed(
                Reversal(
                    reversesSeq: seq, team: tags.team, amount: a, reason: reason, restored: restored, lapsed: lapsed,
                    origin: origin))
        case .topup(let team, let credited, _), .bonusGranted(let team, let credited, _, _):
            let a = amount ?? credited
            guard a <= credited else { throw .badRequest("\"amount\" \(a) is above the original's \(credited)") }
            let t = try Decider.team(s, team)
            let unspent = t.buckets.first(where: { $0.seq == seq })?.amount ?? 0
            return .reversed(
                Reversal(
                    reversesSeq: seq, team: team, amount: min(a, unspent), reason: reason, restored: [], lapsed: 0,
                    origin: nil))
        default:
            throw .badRequest("a \(original.body.type) event cannot be reversed")
        }
    }

    /// Validates who and what a usage names, then prices it (the given `cost` wins).
    public static func price(_ c: ConsumeCommand, state s: LedgerState) throws(Rejection) -> Int64 {
        try price(c, team: try team(s, c.tags.team), state: s)
    }

    /// `price(_:state:)` with the team already looked up (a consume needs it again for its checks).
    static func price(_ c: ConsumeCommand, team t: TeamState, state s: LedgerState) throws(Rejection) -> Int64 {
        _ = try activeUser(t, c.tags.user)
        if let pod = c.tags.pod { _ = try activePod(t, pod) }
        if let cost = c.cost { return cost }
        guard let spec = s.prices[c.tags.model] else {
            throw .notFound("model \(c.tags.model) has no price (give \"cost\" or price.set it)")
        }
        return try Pricing.cost(c.usage, at: spec).get().cost
    }
}
