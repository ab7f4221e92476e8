public enum BonusReason: String, Sendable, CaseIterable {
    case gift, referral, event, loyalty, other
}
