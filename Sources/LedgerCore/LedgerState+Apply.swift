extension LedgerState {
    /// Folds one event into the state. Events come from the decider or the log and are
    /// trusted: a violated expectation here is a bug (assert), not an operating error.
    public mutating func apply(_ e: Event) {
        precondition(e.seq == head + 1, "events apply in seq order without gaps")
        precondition(e.ts >= lastTs, "event time never goes back")
        head = e.seq
        lastTs = e.ts
        switch e.body {
        case .teamCreated(let team, let plan, let timezone, let dailyLimit, let anchor):
            let zone = ZoneCalendar(identifier: timezone)!
            teams[team] = TeamState(
                id: team, plan: plan, timezone: timezone, zone: zone, dailyLimit: dailyLimit, cycleAnchor: anchor,
                cycleStart: e.ts, cycleEnd: e.ts, today: zone.day(of: e.ts))
        case .teamConfigured(let team, let dailyLimit, let budget, let action, let alertAt, let plan):
            modifyTeam(team) {
                $0.configure(dailyLimit: dailyLimit, budget: budget, action: action, alertAt: alertAt, plan: plan)
            }
        case .teamResumed(let team):
            modifyTeam(team) { $0.budget.resumed = true }
        case .podResumed(let team, let pod):
            modifyTeam(team) { $0.pods[pod]?.budget.resumed = true }
        case .userAdded(let team, let user, let dailyLimit):
            modifyTeam(team) { $0.users[user] = UserState(dailyLimit: dailyLimit) }
        case .userRemoved(let team, let user):
            modifyTeam(team) { $0.users[user]?.removed = true }
        case .userAssigned(let team, let user, let amount):
            modifyTeam(team) { $0.users[user]?.allocation = amount }
        case .podCreated(let team, let pod, let budget, let action):
            modifyTeam(team) { $0.pods[pod] = PodState(budget: budget, action: action) }
        case .podConfigured(let team, let pod, let budget, let action):
            modifyTeam(team) { $0.pods[pod]?.configure(budget: budget, action: action) }
        case .podArchived(let team, let pod, _, _):
            modifyTeam(team) { $0.pods[pod]?.archived = true }
        case .planDefined(let plan, let tokens, let pods, let members):
            plans[plan] = Plan(monthlyTokens: tokens, maxPods: pods, maxMembers: members)
        case .priceSet(let p):
            prices[p.model] = p
        case .topup(let team, let amount, _):
            modifyTeam(team) { $0.credit(amount, source: .topup, seq: e.seq, expiresAt: nil) }
        case .bonusGranted(let team, let amount, _, let expiresAt):
            modifyTeam(team) { $0.credit(amount, source: .bonus, seq: e.seq, expiresAt: expiresAt) }
        case .cycleStarted(let team, let plan, let allowance, let start, let end, _):
            let figures = plans[plan]
            modifyTeam(team) {
                $0.startCycle(plan: plan, figures: figures, allowance: allowance, start: start, end: end, seq: e.seq)
            }
        case .dailyReset(let team, let user, let day, let manual):
            modifyTeam(team) { $0.reset(user: user, day: day, manual: manual) }
        case .bonusExpired(let team, let bonusSeq, _):
            modifyTeam(team) { $0.buckets.removeAll { $0.seq == bonusSeq } }
        case .consumed(let c):
            modifyTeam(c.tags.team) {
                $0.book(c.tags, cost: c.cost, day: c.day, draws: c.draws, overdraft: c.overdraft, at: e.ts)
            }
        case .holdPlaced(let h):
            let price = prices[h.tags.model]
            holds[e.seq] = HoldState(
                seq: e.seq, tags: h.tags, amount: h.amount, draws: h.draws, expiresAt: h.expiresAt, price: price)
            modifyTeam(h.tags.team) { t in
                t.takeDraws(h.draws, at: e.ts)
                t.holdCounters(h.tags, h.amount)
                t.noteTask(h.tags)
            }
        case .holdCommitted(let c):
            guard let hold = holds.removeValue(forKey: c.holdSeq) else {
                preconditionFailure("commit of a closed hold")
            }
            modifyTeam(c.tags.team) { t in
                // All escrow goes back first (to a bucket that is gone: it lapses); then the
                // cost's draws come out, the escrowed part first.
                t.holdCounters(hold.tags, -hold.amount)
                t.returnDraws(hold.draws, at: e.ts)
                t.book(c.tags, cost: c.cost, day: c.day, draws: c.draws, overdraft: c.overdraft, at: e.ts)
            }
        case .holdReleased(let holdSeq, let team, _), .holdExpired(let holdSeq, let team, _):
            guard let hold = holds.removeValue(forKey: holdSeq) else { preconditionFailure("release of a closed hold") }
            modifyTeam(team) { t in
                t.holdCounters(hold.tags, -hold.amount)
                t.returnDraws(hold.draws, at: e.ts)
            }
        case .budgetAlert(let team, let scope, let pod, let percent, _, _):
            modifyTeam(team) { t in
                if scope == "pod", let pod {
                    t.pods[pod]?.budget.alerted.insert(percent)
                } else {
                    t.budget.alerted.insert(percent)
                }
            }
        case .reversed(let r):
            let (inserted, _) = reversed.insert(r.reversesSeq)
            assert(inserted, "an event is reversed once")
            modifyTeam(r.team) { $0.reverse(r, seq: e.seq, at: e.ts) }
        }
    }

    private mutating func modifyTeam(_ id: ID, _ body: (inout TeamState) -> Void) {
        guard let i = teams.index(forKey: id) else { preconditionFailure("event for unknown team \(id)") }
        // Mutates in the dictionary's slot: no copy of the team, one hash.
        body(&teams.values[i])
    }
}
