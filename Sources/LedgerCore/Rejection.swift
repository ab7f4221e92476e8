/// The stable error codes of the wire protocol (PROTOCOL §2). Never renamed: clients match on them.
public enum ErrorCode: String, Sendable, CaseIterable {
    case badRequest = "bad_request"
    case lineTooLong = "line_too_long"
    case unknownOp = "unknown_op"
    case notFound = "not_found"
    case alreadyExists = "already_exists"
    case insufficientTokens = "insufficient_tokens"
    case dailyLimitExceeded = "daily_limit_exceeded"
    case budgetExceeded = "budget_exceeded"
    case planLimit = "plan_limit"
    case conflict
    case holdClosed = "hold_closed"
    case forbidden
    case integrity
    case unavailable
    case `internal`
}

/// Which limit refused a request (PROTOCOL §2 `scope`).
public enum LimitScope: String, Sendable, CaseIterable {
    case pool, allocation
    case teamDaily = "team_daily"
    case userDaily = "user_daily"
    case teamBudget = "team_budget"
    case podBudget = "pod_budget"
    case plan
}

/// A refused request: data, not an exception. A rejection appends nothing.
public struct Rejection: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: ErrorCode
    public var message: String
    public var scope: LimitScope?
    public var seq: UInt64?

    public init(_ code: ErrorCode, _ message: String, scope: LimitScope? = nil, seq: UInt64? = nil) {
        self.code = code
        self.message = message
        self.scope = scope
        self.seq = seq
    }

    public var description: String { "\(code.rawValue): \(message)" }

    public static func badRequest(_ message: String) -> Rejection { Rejection(.badRequest, message) }
    public static func notFound(_ message: String) -> Rejection { Rejection(.notFound, message) }
    public static func alreadyExists(_ message: String) -> Rejection { Rejection(.alreadyExists, message) }
}
