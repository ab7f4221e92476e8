/// Reads that do not append.
public enum Query: Sendable, Equatable {
    case usage(team: ID, pod: ID?)
    case report(ReportQuery)
    case subscribe(SubscribeQuery)
    /// `nil`: every projection.
    case rebuild(projection: String?)
    /// A hot copy of the log into `dest`, an absolute path (admin; added to the contract).
    case backup(dest: String)
    case ping
    case estimate(model: ID, usage: Usage)
    case check(ConsumeCommand)
    case balance(team: ID, user: ID?)
    case audit(AuditQuery)
    case verify(fromSeq: UInt64?, toSeq: UInt64?)
    case stats
    case clockSet(Instant)
    case clockAdvance(seconds: Int64)
}
