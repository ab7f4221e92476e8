/// The type of an event, as its `type` field spells it (PROTOCOL §6): the one place each
/// type's name is written. Stored names are never renamed.
public enum EventType: String, Sendable, CaseIterable {
    case teamCreated = "team_created"
    case teamConfigured = "team_configured"
    case teamResumed = "team_resumed"
    case podResumed = "pod_resumed"
    case userAdded = "user_added"
    case userRemoved = "user_removed"
    case userAssigned = "user_assigned"
    case podCreated = "pod_created"
    case podConfigured = "pod_configured"
    case podArchived = "pod_archived"
    case planDefined = "plan_defined"
    case priceSet = "price_set"
    case topup
    case bonusGranted = "bonus_granted"
    case cycleStarted = "cycle_started"
    case dailyReset = "daily_reset"
    case bonusExpired = "bonus_expired"
    case consumed
    case holdPlaced = "hold_placed"
    case holdCommitted = "hold_committed"
    case holdReleased = "hold_released"
    case holdExpired = "hold_expired"
    case budgetAlert = "budget_alert"
    case reversed
}
