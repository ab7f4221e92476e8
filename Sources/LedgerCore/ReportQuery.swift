/// `report` (PROTOCOL §5).
public struct ReportQuery: Sendable, Equatable {
    public var team: ID
    public var period: ReportPeriod
    public var from: LocalDay?
    public var to: LocalDay?
    public var by: ReportDimension?
    public var limit: Int = 1000
    public static let limitMax = 10_000
    public init(team: ID, period: ReportPeriod) {
        self.team = team
        self.period = period
    }
}
