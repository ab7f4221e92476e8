import LedgerCore
import LedgerJSON

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The hot requests (`consume`, `check`, `hold`) read straight from their line, without a JSON
/// tree: one pass over a flat object whose members are plain strings, plain integers and
/// booleans. It only ever answers what `RequestParser.parseGeneral` would answer for the same
/// line: anything it is not sure of (an escape, a non-ASCII or control byte it would have to
/// judge, a fraction, an exponent, a minus sign, `null`, a nested value, an unknown, missing,
/// repeated or ill-typed member, a value out of range) returns nil, and the general parser then
/// answers, with its own error messages. The payload digest is computed from the members in
/// RFC 8785 order, which is exactly the canonical form the general parser hashes.
package enum FastRequestParser {
    /// Longer lines go to the general parser: the hot requests are far shorter.
    static let lineBytesMax = 4096

    package static func parse(_ line: [UInt8]) -> ParsedRequest? {
        guard line.count <= lineBytesMax else { return nil }
        return line.withUnsafeBufferPointer { buf in
            withUnsafeTemporaryAllocation(of: Token.self, capacity: Name.allCases.count) { tokens in
                tokens.initialize(repeating: Token())
                return parse(buf, tokens)
            }
        }
    }

    /// The member names the fast path knows, in RFC 8785 order (all ASCII: byte order), then `id`.
    enum Name: Int, CaseIterable {
        case amount, cost, inputTokens, key, model, op, operation, outputTokens, pod, record, task, team, ttlSeconds,
            user
        case id

        var text: StaticString {
            switch self {
            case .amount: "amount"
            case .cost: "cost"
            case .inputTokens: "input_tokens"
            case .key: "key"
            case .model: "model"
            case .op: "op"
            case .operation: "operation"
            case .outputTokens: "output_tokens"
            case .pod: "pod"
            case .record: "record"
            case .task: "task"
            case .team: "team"
            case .ttlSeconds: "ttl_seconds"
            case .user: "user"
            case .id: "id"
            }
        }

        var bit: UInt32 { 1 << UInt32(rawValue) }

        /// The name spelled by the bytes, if the fast path knows it.
        static func named(_ b: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> Name? {
            func spells(_ n: Name) -> Bool {
                n.text.utf8CodeUnitCount == r.count
                    && memcmp(b.baseAddress! + r.lowerBound, n.text.utf8Start, r.count) == 0
            }
            switch r.count {
            case 2: return spells(.op) ? .op : spells(.id) ? .id : nil
            case 3: return spells(.key) ? .key : spells(.pod) ? .pod : nil
            case 4:
                return spells(.team)
                    ? .team : spells(.user) ? .user : spells(.cost) ? .cost : spells(.task) ? .task : nil
            case 5: return spells(.model) ? .model : nil
            case 6: return spells(.record) ? .record : spells(.amount) ? .amount : nil
            case 9: return spells(.operation) ? .operation : nil
            case 11: return spells(.ttlSeconds) ? .ttlSeconds : nil
            case 12: return spells(.inputTokens) ? .inputTokens : nil
            case 13: return spells(.outputTokens) ? .outputTokens : nil
            default: return nil
            }
        }

        static func mask(_ names: Name...) -> UInt32 { names.reduce(0) { $0 | $1.bit } }
        /// The members each op takes; anything else present is an unknown field.
        static let consumeMembers = mask(
            .op, .id, .key, .team, .user, .pod, .task, .model, .operation, .inputTokens, .outputTokens, .cost, .record)
        static let checkMembers = mask(
            .op, .id, .team, .user, .pod, .task, .model, .operation, .inputTokens, .outputTokens, .cost)
        static let holdMembers = mask(
            .op, .id, .key, .team, .user, .pod, .task, .model, .operation, .inputTokens, .outputTokens, .amount,
            .ttlSeconds)
    }

    struct Token {
        enum Kind: UInt8 { case absent, string, integer, `true`, `false` }
        var kind = Kind.absent
        /// The value's bytes as written, quotes included for a string: the canonical form too,
        /// since only escape-free strings and minus-free integers are taken.
        var start = 0
        var end = 0
        /// A string of bytes 0x20...0x7E only (no escape, no control, nothing to validate).
        var plain = false
        /// An integer with a leading minus (only `id` takes one).
        var negative = false
    }

    private static func parse(_ b: UnsafeBufferPointer<UInt8>, _ tokens: UnsafeMutableBufferPointer<Token>)
        -> ParsedRequest?
    {
        var c = Cursor(b: b)
        var seen: UInt32 = 0
        c.skipWhitespace()
        guard c.take(UInt8(ascii: "{")) else { return nil }
        while true {
            c.skipWhitespace()
            guard c.take(UInt8(ascii: "\"")), let nameToken = c.stringRest(), nameToken.plain else { return nil }
            guard let name = Name.named(b, (nameToken.start + 1)..<(nameToken.end - 1)) else { return nil }
            guard seen & name.bit == 0 else { return nil }  // repeated: the general parser names it
            c.skipWhitespace()
            guard c.take(UInt8(ascii: ":")) else { return nil }
            c.skipWhitespace()
            guard let value = c.value() else { return nil }
            tokens[name.rawValue] = value
            seen |= name.bit
            c.skipWhitespace()
            if c.take(UInt8(ascii: ",")) { continue }
            guard c.take(UInt8(ascii: "}")) else { return nil }
            break
        }
        c.skipWhitespace()
        guard c.atEnd else { return nil }
        return request(b, tokens, seen: seen)
    }

    /// Builds the request from the members read; nil when any of them needs the general
    /// parser's judgement.
    private static func request(_ b: UnsafeBufferPointer<UInt8>, _ t: UnsafeMutableBufferPointer<Token>, seen: UInt32)
        -> ParsedRequest?
    {
        func token(_ n: Name) -> Token { t[n.rawValue] }
        func present(_ n: Name) -> Bool { seen & n.bit != 0 }
        func string(_ x: Token) -> String {
            String(decoding: UnsafeBufferPointer(rebasing: b[(x.start + 1)..<(x.end - 1)]), as: UTF8.self)
        }
        /// An id by the rule of PROTOCOL §3, or nil (absent, not a string or breaking the rule).
        func id(_ n: Name) -> ID? {
            let x = token(n)
            guard x.kind == .string else { return nil }
            let count = x.end - x.start - 2
            guard count >= 1 && count <= ID.bytesMax else { return nil }
            if x.plain { return ID(trusted: string(x)) }
            // Bytes above 0x7E: UTF-8 to validate and C1 controls to refuse, as the general parser does.
            guard
                let s = String(validating: UnsafeBufferPointer(rebasing: b[(x.start + 1)..<(x.end - 1)]), as: UTF8.self)
            else { return nil }
            return ID(s)
        }
        /// A non-negative integer of at most `digitsMax` digits in `range`, or nil.
        func integer(_ n: Name, in range: ClosedRange<Int64>, digitsMax: Int) -> Int64? {
            let x = token(n)
            guard x.kind == .integer, !x.negative, x.end - x.start <= digitsMax else { return nil }
            var v: Int64 = 0
            for i in x.start..<x.end { v = v * 10 + Int64(b[i] &- UInt8(ascii: "0")) }
            return range.contains(v) ? v : nil
        }
        func amount(_ n: Name) -> Int64?? {
            guard present(n) else { return .some(nil) }
            guard let v = integer(n, in: 0...Amount.max, digitsMax: 16) else { return nil }
            return .some(v)
        }
        func optionalID(_ n: Name) -> ID?? {
            guard present(n) else { return .some(nil) }
            guard let v = id(n) else { return nil }
            return .some(v)
        }

        let opToken = token(.op)
        guard opToken.kind == .string, opToken.plain else { return nil }
        func opIs(_ name: StaticString) -> Bool {
            opToken.end - opToken.start - 2 == name.utf8CodeUnitCount
                && memcmp(b.baseAddress! + opToken.start + 1, name.utf8Start, name.utf8CodeUnitCount) == 0
        }
        let op: Op
        if opIs("consume") {
            op = .consume
        } else if opIs("check") {
            op = .check
        } else if opIs("hold") {
            op = .hold
        } else {
            return nil
        }

        // `id`: echoed; an invalid one is the general parser's to refuse.
        var requestID: JSON?
        let idToken = token(.id)
        switch idToken.kind {
        case .absent: requestID = nil
        case .string:
            guard let v = id(.id) else { return nil }
            requestID = .string(v.string)
        case .integer:
            guard idToken.end - idToken.start <= 64 else { return nil }
            requestID = .number(
                JSONNumber(
                    lexeme: String(
                        decoding: UnsafeBufferPointer(rebasing: b[idToken.start..<idToken.end]), as: UTF8.self)))
        case .true, .false: return nil
        }

        let allowed = op == .consume ? Name.consumeMembers : op == .check ? Name.checkMembers : Name.holdMembers
        guard seen & ~allowed == 0 else { return nil }

        guard let team = id(.team), let user = id(.user), let model = id(.model) else { return nil }
        guard let pod = optionalID(.pod), let task = optionalID(.task), let operation = optionalID(.operation) else {
            return nil
        }
        guard let input = amount(.inputTokens), let output = amount(.outputTokens) else { return nil }
        let tags = UsageTags(team: team, user: user, pod: pod, task: task, model: model, operation: operation?.string)
        let usage = Usage(inputTokens: input, outputTokens: output, params: nil)

        var key: String?
        let body: RequestBody
        switch op {
        case .consume:
            guard let k = id(.key) else { return nil }
            key = k.string
            guard let cost = amount(.cost) else { return nil }
            let recordToken = token(.record)
            let record: Bool
            switch recordToken.kind {
            case .absent, .false: record = false
            case .true: record = true
            case .string, .integer: return nil
            }
            body = .command(.consume(ConsumeCommand(tags: tags, usage: usage, cost: cost, record: record)))
        case .check:
            guard let cost = amount(.cost) else { return nil }
            body = .query(.check(ConsumeCommand(tags: tags, usage: usage, cost: cost, record: false)))
        default:
            guard let k = id(.key) else { return nil }
            key = k.string
            guard let holdAmount = amount(.amount) else { return nil }
            // Both or neither of amount and usage: the general parser says which.
            guard (holdAmount == nil) != usage.isEmpty else { return nil }
            var ttl: Int64 = 600
            if present(.ttlSeconds) {
                guard let v = integer(.ttlSeconds, in: 1...(30 * 86_400), digitsMax: 7) else { return nil }
                ttl = v
            }
            body = .command(.hold(HoldCommand(tags: tags, amount: holdAmount, usage: usage, ttlSeconds: ttl)))
        }

        // The payload: every member but `id`, in RFC 8785 order. Each value's written bytes are
        // already canonical (escape-free strings, minus-free integers, literals).
        var canonical = [UInt8]()
        canonical.reserveCapacity(b.count)
        canonical.append(UInt8(ascii: "{"))
        for n in Name.allCases where n != .id && present(n) {
            if canonical.count > 1 { canonical.append(UInt8(ascii: ",")) }
            canonical.append(UInt8(ascii: "\""))
            canonical.append(contentsOf: UnsafeBufferPointer(start: n.text.utf8Start, count: n.text.utf8CodeUnitCount))
            canonical.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
            let x = token(n)
            canonical.append(contentsOf: UnsafeBufferPointer(rebasing: b[x.start..<x.end]))
        }
        canonical.append(UInt8(ascii: "}"))
        let digest = HashChain.digest(canonical)
        return ParsedRequest(id: requestID, op: op, key: key, payloadDigest: digest, body: body)
    }
}

private struct Cursor {
    let b: UnsafeBufferPointer<UInt8>
    var i = 0

    var atEnd: Bool { i == b.count }

    mutating func skipWhitespace() {
        while i < b.count {
            let c = b[i]
            guard c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D else { return }
            i += 1
        }
    }

    mutating func take(_ c: UInt8) -> Bool {
        guard i < b.count, b[i] == c else { return false }
        i += 1
        return true
    }

    /// A string whose opening quote was just taken; nil on an escape, a control byte or no end.
    mutating func stringRest() -> FastRequestParser.Token? {
        let start = i - 1
        var plain = true
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "\"") {
                i += 1
                return FastRequestParser.Token(kind: .string, start: start, end: i, plain: plain)
            }
            if c == UInt8(ascii: "\\") || c < 0x20 { return nil }
            if c > 0x7E { plain = false }
            i += 1
        }
        return nil
    }

    /// A string, an integer (`-?(0|[1-9][0-9]*)` followed by neither `.`, `e`, `E` nor a
    /// digit) or `true`/`false`; nil for anything else.
    mutating func value() -> FastRequestParser.Token? {
        guard i < b.count else { return nil }
        let start = i
        switch b[i] {
        case UInt8(ascii: "\""):
            i += 1
            return stringRest()
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            let negative = b[i] == UInt8(ascii: "-")
            if negative { i += 1 }
            guard i < b.count, isDigit(b[i]) else { return nil }
            if b[i] == UInt8(ascii: "0") {
                i += 1
            } else {
                while i < b.count && isDigit(b[i]) { i += 1 }
            }
            if i < b.count {
                let c = b[i]
                if isDigit(c) || c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") {
                    return nil
                }
            }
            return FastRequestParser.Token(kind: .integer, start: start, end: i, negative: negative)
        case UInt8(ascii: "t"):
            guard literal("true") else { return nil }
            return FastRequestParser.Token(kind: .true, start: start, end: i)
        case UInt8(ascii: "f"):
            guard literal("false") else { return nil }
            return FastRequestParser.Token(kind: .false, start: start, end: i)
        default:
            return nil
        }
    }

    private func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

    private mutating func literal(_ word: StaticString) -> Bool {
        let n = word.utf8CodeUnitCount
        guard i + n <= b.count, memcmp(b.baseAddress! + i, word.utf8Start, n) == 0 else { return false }
        i += n
        return true
    }
}
