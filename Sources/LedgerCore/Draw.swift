/// One part of a charge taken from one bucket (named by the seq that credited it).
public struct Draw: Sendable, Equatable {
    public var bucketSeq: UInt64
    public var amount: Int64
    public init(bucketSeq: UInt64, amount: Int64) {
        self.bucketSeq = bucketSeq
        self.amount = amount
    }
}
