/// A JSON number kept as its lexeme (already validated against the JSON grammar).
public struct JSONNumber: Sendable, Hashable, CustomStringConvertible {
    public let lexeme: String

    public init(lexeme: String) { self.lexeme = lexeme }
    public init(_ value: Int64) { self.lexeme = String(value) }

    public var description: String { lexeme }

    /// True when the lexeme has no fraction and no exponent (`100.0` and `1e2` are not integers).
    public var isIntegerLexeme: Bool {
        !lexeme.utf8.contains(where: { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") })
    }

    /// The value when the lexeme is an integer that fits Int64; nil otherwise.
    public var int64: Int64? {
        guard isIntegerLexeme else { return nil }
        return Int64(lexeme)
    }

    /// The value in thousandths when it is a plain decimal with at most 3 fraction digits and
    /// no exponent (`1.5` → 1500); nil otherwise or on overflow.
    public var milli: Int64? {
        var negative = false
        var intPart: Int64 = 0
        var frac: Int64 = 0
        var fracDigits = 0
        var seenDot = false
        var digits = 0
        for (i, c) in lexeme.utf8.enumerated() {
            if i == 0 && c == UInt8(ascii: "-") {
                negative = true
                continue
            }
            if c == UInt8(ascii: ".") {
                guard !seenDot else { return nil }
                seenDot = true
                continue
            }
            guard c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") else { return nil }
            let d = Int64(c - UInt8(ascii: "0"))
            if seenDot {
                fracDigits += 1
                guard fracDigits <= 3 else {
                    // Trailing zeros beyond 3 places do not change the value (`1.5000`).
                    if d == 0 { continue }
                    return nil
                }
                frac = frac * 10 + d
            } else {
                digits += 1
                let (m, o1) = intPart.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(d)
                guard !o1 && !o2 else { return nil }
                intPart = a
            }
        }
        guard digits > 0 else { return nil }
        while fracDigits < 3 {
            frac *= 10
            fracDigits += 1
        }
        let (m, o1) = intPart.multipliedReportingOverflow(by: 1000)
        let (v, o2) = m.addingReportingOverflow(frac)
        guard !o1 && !o2 else { return nil }
        return negative ? -v : v
    }
}
