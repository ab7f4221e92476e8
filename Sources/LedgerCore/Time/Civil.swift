/// Proleptic Gregorian arithmetic on plain integers, no Foundation.
///
/// `days(year:month:day:)` and `date(days:)` are Howard Hinnant's `days_from_civil` and
/// `civil_from_days`: exact for every year an `Int` can hold, with 1970-01-01 as day 0.
enum Civil {
    static let secondsPerDay: Int64 = 86_400
    static let msPerDay: Int64 = 86_400_000

    /// Division rounding towards negative infinity (Swift's `/` truncates towards zero).
    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        precondition(b > 0, "floorDiv by a non-positive divisor")
        let q = a / b
        return (a % b < 0) ? q - 1 : q
    }

    /// The remainder that goes with `floorDiv`: always in `0..<b`.
    static func floorMod(_ a: Int64, _ b: Int64) -> Int64 {
        precondition(b > 0, "floorMod by a non-positive divisor")
        let r = a % b
        return r < 0 ? r + b : r
    }

    static func isLeap(_ year: Int) -> Bool {
        year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
    }

    static func daysIn(year: Int, month: Int) -> Int {
        precondition((1...12).contains(month), "month out of range: \(month)")
        switch month {
        case 2: return isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a valid date.
    static func days(year: Int, month: Int, day: Int) -> Int {
        assert((1...12).contains(month) && (1...daysIn(year: year, month: month)).contains(day))
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400  // 0...399
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1  // 0...365, March-based
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear  // 0...146096
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The date `days` after 1970-01-01 (negative goes back).
    static func date(days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097  // 0...146096
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365  // 0...399
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)  // 0...365
        let mp = (5 * dayOfYear + 2) / 153  // 0...11, March-based
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        assert((1...12).contains(month) && (1...31).contains(day))
        return (year, month, day)
    }
}

/// ASCII helpers shared by the fixed-width parsers and formatters of this folder.
enum ASCII {
    static let zero = UInt8(ascii: "0")

    /// The value of `count` decimal digits at `start`, or nil if any byte is not a digit.
    static func digits(_ bytes: UnsafeBufferPointer<UInt8>, at start: Int, count: Int) -> Int? {
        guard start >= 0, count > 0, start + count <= bytes.count else { return nil }
        var value = 0
        for i in start..<(start + count) {
            let d = bytes[i] &- zero
            guard d <= 9 else { return nil }
            value = value * 10 + Int(d)
        }
        return value
    }

    /// Appends `value` in decimal, left-padded with zeros to `width` digits (never truncated).
    static func append(_ value: Int, width: Int, to out: inout [UInt8]) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: ByteCursor.fieldBytesMax) { buf in
            var c = ByteCursor(buf.baseAddress!)
            c.digits(value, width: width)
            out.append(contentsOf: c.written)
        }
    }

    /// A year as `YYYY`; years outside 0...9999 (only reachable by arithmetic) keep every digit and a `-` sign.
    static func appendYear(_ year: Int, to out: inout [UInt8]) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: ByteCursor.fieldBytesMax) { buf in
            var c = ByteCursor(buf.baseAddress!)
            c.year(year)
            out.append(contentsOf: c.written)
        }
    }
}

/// Writes formatted ASCII at a pointer with room enough (the caller's promise: `fieldBytesMax`
/// per field), with no bounds checks and no allocation: dates and times are formatted for every
/// event sealed.
public struct ByteCursor {
    /// The longest field: a sign and an Int's 19 digits.
    public static let fieldBytesMax = 20

    public let start: UnsafeMutablePointer<UInt8>
    public private(set) var count = 0

    public init(_ start: UnsafeMutablePointer<UInt8>) { self.start = start }

    /// A String of what `write` puts, at most `capacity` bytes of ASCII.
    public static func string(capacity: Int, _ write: (inout ByteCursor) -> Void) -> String {
        String(unsafeUninitializedCapacity: capacity) { buf in
            var c = ByteCursor(buf.baseAddress!)
            write(&c)
            precondition(c.count <= capacity, "the text fits the capacity it asked for")
            return c.count
        }
    }

    public var written: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: start, count: count) }

    @inline(__always)
    public mutating func put(_ b: UInt8) {
        start[count] = b
        count += 1
    }

    @inline(__always)
    public mutating func put(contentsOf bytes: UnsafeBufferPointer<UInt8>) {
        guard let p = bytes.baseAddress else { return }
        (start + count).update(from: p, count: bytes.count)
        count += bytes.count
    }

    /// `value` in decimal, left-padded with zeros to `width` digits (never truncated).
    public mutating func digits(_ value: Int, width: Int) {
        precondition(value >= 0, "digits expects a non-negative value")
        precondition(width < ByteCursor.fieldBytesMax, "no field is wider than an Int's 19 digits")
        var n = 1
        var rest = value / 10
        while rest > 0 {
            n += 1
            rest /= 10
        }
        n = max(n, width)
        var v = value
        var i = count + n
        while i > count {
            i -= 1
            start[i] = ASCII.zero &+ UInt8(truncatingIfNeeded: v % 10)
            v /= 10
        }
        count += n
    }

    /// A year as `YYYY`; outside 0...9999 every digit and a `-` sign.
    public mutating func year(_ year: Int) {
        if year < 0 { put(UInt8(ascii: "-")) }
        digits(abs(year), width: 4)
    }
}
