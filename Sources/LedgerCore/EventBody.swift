/// The ledger's events: the storage format. Past tense, versioned (`v`), never renamed.
/// The JSON form of an event is exactly what `audit` returns; its RFC 8785 bytes without
/// `hash` are what the hash chain covers (PROTOCOL §6).
public enum EventBody: Sendable, Equatable {
    case teamCreated(team: ID, plan: ID, timezone: String, dailyLimit: Int64, cycleAnchor: Int64)
    case teamConfigured(
        team: ID, dailyLimit: Int64?, monthlyBudget: Int64?, budgetAction: BudgetAction?, alertAt: [Int64]?,
        plan: ID?)
    case teamResumed(team: ID)
    case podResumed(team: ID, pod: ID)
    case userAdded(team: ID, user: ID, dailyLimit: Int64)
    case userRemoved(team: ID, user: ID)
    case userAssigned(team: ID, user: ID, amount: Int64)
    case podCreated(team: ID, pod: ID, budget: Int64, budgetAction: BudgetAction)
    case podConfigured(team: ID, pod: ID, budget: Int64, budgetAction: BudgetAction)
    case podArchived(team: ID, pod: ID, budget: Int64, budgetAction: BudgetAction)
    case planDefined(plan: ID, monthlyTokens: Int64, maxPods: Int64, maxMembers: Int64)
    case priceSet(PriceSpec)
    case topup(team: ID, amount: Int64, package: String?)
    case bonusGranted(team: ID, amount: Int64, reason: BonusReason, expiresAt: Instant?)
    case cycleStarted(team: ID, plan: ID, allowance: Int64, cycleStart: Instant, cycleEnd: Instant, lapsed: Int64)
    case dailyReset(team: ID, user: ID?, day: LocalDay, manual: Bool)
    case bonusExpired(team: ID, bonusSeq: UInt64, amount: Int64)
    case consumed(Consumption)
    case holdPlaced(HoldPlacement)
    case holdCommitted(HoldCommitment)
    case holdReleased(holdSeq: UInt64, team: ID, released: Int64)
    case holdExpired(holdSeq: UInt64, team: ID, released: Int64)
    case budgetAlert(team: ID, scope: String, pod: ID?, percent: Int64, used: Int64, budget: Int64)
    case reversed(Reversal)

    public static let allTypes: [String] = EventType.allCases.map(\.rawValue)

    public var eventType: EventType {
        switch self {
        case .teamCreated: .teamCreated
        case .teamConfigured: .teamConfigured
        case .teamResumed: .teamResumed
        case .podResumed: .podResumed
        case .userAdded: .userAdded
        case .userRemoved: .userRemoved
        case .userAssigned: .userAssigned
        case .podCreated: .podCreated
        case .podConfigured: .podConfigured
        case .podArchived: .podArchived
        case .planDefined: .planDefined
        case .priceSet: .priceSet
        case .topup: .topup
        case .bonusGranted: .bonusGranted
        case .cycleStarted: .cycleStarted
        case .dailyReset: .dailyReset
        case .bonusExpired: .bonusExpired
        case .consumed: .consumed
        case .holdPlaced: .holdPlaced
        case .holdCommitted: .holdCommitted
        case .holdReleased: .holdReleased
        case .holdExpired: .holdExpired
        case .budgetAlert: .budgetAlert
        case .reversed: .reversed
        }
    }

    /// The `type` field's value.
    public var type: String { eventType.rawValue }

    /// The team an event belongs to; nil for global events (plans, prices).
    public var team: ID? {
        switch self {
        case .teamCreated(let t, _, _, _, _), .teamConfigured(let t, _, _, _, _, _), .teamResumed(let t),
            .podResumed(let t, _), .userAdded(let t, _, _), .userRemoved(let t, _), .userAssigned(let t, _, _),
            .podCreated(let t, _, _, _), .podConfigured(let t, _, _, _), .podArchived(let t, _, _, _),
            .topup(let t, _, _), .bonusGranted(let t, _, _, _), .cycleStarted(let t, _, _, _, _, _),
            .dailyReset(let t, _, _, _), .bonusExpired(let t, _, _), .holdReleased(_, let t, _),
            .holdExpired(_, let t, _), .budgetAlert(let t, _, _, _, _, _):
            return t
        case .consumed(let c): return c.tags.team
        case .holdPlaced(let h): return h.tags.team
        case .holdCommitted(let h): return h.tags.team
        case .reversed(let r): return r.team
        case .planDefined, .priceSet: return nil
        }
    }

    /// Usage tags for filters (audit by pod, model, task, user).
    public var tags: UsageTags? {
        switch self {
        case .consumed(let c): return c.tags
        case .holdPlaced(let h): return h.tags
        case .holdCommitted(let h): return h.tags
        default: return nil
        }
    }
}
