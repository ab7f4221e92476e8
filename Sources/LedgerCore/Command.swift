/// Commands: what a request asks to append. `Decider.decide` is pure: the same command against
/// the same state and context gives the same events or the same rejection.
public enum Command: Sendable, Equatable {
    case teamCreate(team: ID, plan: ID?, timezone: String?, dailyLimit: Int64?)
    case teamConfigure(
        team: ID, dailyLimit: Int64?, monthlyBudget: Int64?, budgetAction: BudgetAction?, alertAt: [Int64]?, plan: ID?)
    case teamResume(team: ID)
    case podResume(team: ID, pod: ID)
    case userAdd(team: ID, user: ID, dailyLimit: Int64?)
    case userRemove(team: ID, user: ID)
    case userAssign(team: ID, user: ID, amount: Int64)
    case podCreate(team: ID, pod: ID, budget: Int64?, budgetAction: BudgetAction?)
    case podConfigure(team: ID, pod: ID, budget: Int64?, budgetAction: BudgetAction?)
    case podArchive(team: ID, pod: ID)
    case planDefine(plan: ID, monthlyTokens: Int64, maxPods: Int64, maxMembers: Int64)
    case priceSet(PriceSpec)
    case topup(team: ID, amount: Int64, package: String?)
    case bonusGrant(team: ID, amount: Int64, reason: BonusReason, expiresAt: Instant?)
    case reset(team: ID, user: ID?)
    case reverse(seq: UInt64, reason: String, amount: Int64?)
    case consume(ConsumeCommand)
    case hold(HoldCommand)
    case holdCommit(hold: UInt64, usage: Usage, cost: Int64?)
    case holdRelease(hold: UInt64)

    /// The seq of a logged event the decision needs (reversal target, closed hold), if any.
    public var referencedSeq: UInt64? {
        switch self {
        case .reverse(let seq, _, _): seq
        case .holdCommit(let hold, _, _), .holdRelease(let hold): hold
        default: nil
        }
    }
}
