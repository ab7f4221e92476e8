/// What a usage record says about who used what (shared by consumes, holds and commits).
public struct UsageTags: Sendable, Equatable {
    public var team: ID
    public var user: ID
    public var pod: ID?
    public var task: ID?
    public var model: ID
    public var operation: String?
    public init(team: ID, user: ID, pod: ID? = nil, task: ID? = nil, model: ID, operation: String? = nil) {
        self.team = team
        self.user = user
        self.pod = pod
        self.task = task
        self.model = model
        self.operation = operation
    }
}
