/// What a request asks of the ledger: to append (a command) or to read (a query).
public enum RequestBody: Sendable, Equatable {
    case command(Command)
    case query(Query)
}

/// A request as the writer takes it: what it asks, and for an appending request its
/// idempotency key and the digest of its payload (PROTOCOL §4). The wire's `id` and op name
/// stay with the connection.
public struct LedgerRequest: Sendable {
    public var key: String?
    /// SHA-256 of the request's RFC 8785 bytes without `id`: what "the same payload" means.
    public var payloadDigest: [UInt8]
    public var body: RequestBody

    public init(key: String?, payloadDigest: [UInt8], body: RequestBody) {
        self.key = key
        self.payloadDigest = payloadDigest
        self.body = body
    }
}
