/// A report's bucket (PROTOCOL §5 `report`).
public enum ReportPeriod: String, Sendable, Equatable, CaseIterable {
    case day, week, month
}
