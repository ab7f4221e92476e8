/// What a report row groups by within its bucket (PROTOCOL §5 `report`).
public enum ReportDimension: String, Sendable, Equatable, CaseIterable {
    case model, user, pod, task, operation
}
