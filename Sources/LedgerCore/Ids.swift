import LedgerJSON

/// An id of the protocol (team, user, pod, task, model, plan, key): 1..128 bytes of UTF-8
/// without control characters, compared byte for byte. Swift's `String ==` uses canonical
/// equivalence, which would merge ids that differ only in Unicode normalisation, so equality,
/// hashing and order here go through the UTF-8 bytes.
public struct ID: Sendable, CustomStringConvertible {
    public let string: String

    public static let bytesMax = 128

    /// Nil when the text breaks the id rule.
    public init?(_ string: String) {
        let n = string.utf8.count
        guard n >= 1 && n <= ID.bytesMax else { return nil }
        for scalar in string.unicodeScalars {
            let v = scalar.value
            // C0, DEL and C1 control characters.
            if v < 0x20 || (v >= 0x7F && v < 0xA0) { return nil }
        }
        self.string = string
    }

    /// For ids read back from the log, already validated when written.
    public init(trusted string: String) {
        self.string = string
    }

    public var description: String { string }
}

extension ID: Hashable, Comparable {
    public static func == (a: ID, b: ID) -> Bool { sameBytes(a.string, b.string) }
    public func hash(into hasher: inout Hasher) {
        var s = string
        s.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
    public static func < (a: ID, b: ID) -> Bool { a.string.utf8.lexicographicallyPrecedes(b.string.utf8) }
}

/// Token amounts: integers 0..2^53-1; -1 means unlimited where a limit is allowed.
public enum Amount {
    public static let max: Int64 = 9_007_199_254_740_991
}
