/// Writes RFC 8785 bytes member by member, for the hot paths that already know their keys'
/// order (sealing a `consumed` event, the `consume` and `check` answers). The caller must add
/// members in RFC 8785 order; every user of it asserts (debug builds) that its bytes equal the
/// generic serialisation of the same JSON tree, so the two cannot drift apart.
public struct CanonicalWriter {
    public private(set) var bytes: [UInt8]
    /// A value was just completed at the current depth: the next member or element needs a comma.
    private var needsComma = false

    public init(capacity: Int) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    @inline(__always)
    private mutating func separate() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
    }

    /// `"k":` (the key must be plain ASCII that needs no escape).
    @inline(__always)
    public mutating func key(_ k: StaticString) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        bytes.append(contentsOf: UnsafeBufferPointer(start: k.utf8Start, count: k.utf8CodeUnitCount))
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    public mutating func beginObject() {
        separate()
        bytes.append(UInt8(ascii: "{"))
        needsComma = false
    }

    public mutating func endObject() {
        bytes.append(UInt8(ascii: "}"))
        needsComma = true
    }

    public mutating func beginArray() {
        separate()
        bytes.append(UInt8(ascii: "["))
        needsComma = false
    }

    public mutating func endArray() {
        bytes.append(UInt8(ascii: "]"))
        needsComma = true
    }

    public mutating func int(_ v: Int64) {
        separate()
        CanonicalWriter.appendDecimal(v, to: &bytes)
        needsComma = true
    }

    public mutating func uint(_ v: UInt64) {
        separate()
        CanonicalWriter.appendDecimal(v, to: &bytes)
        needsComma = true
    }

    public mutating func bool(_ b: Bool) {
        separate()
        if b {
            bytes.append(contentsOf: [0x74, 0x72, 0x75, 0x65])
        } else {
            bytes.append(contentsOf: [0x66, 0x61, 0x6C, 0x73, 0x65])
        }
        needsComma = true
    }

    public mutating func string(_ s: String) {
        separate()
        CanonicalJSON.writeString(s, to: &bytes)
        needsComma = true
    }

    /// A string value that is plain ASCII needing no escape (`"consumed"`, an enum's name).
    public mutating func string(_ s: StaticString) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        bytes.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
        bytes.append(UInt8(ascii: "\""))
        needsComma = true
    }

    public mutating func instant(_ t: Instant) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        t.appendRFC3339(to: &bytes)
        bytes.append(UInt8(ascii: "\""))
        needsComma = true
    }

    public mutating func day(_ d: LocalDay) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        d.append(to: &bytes)
        bytes.append(UInt8(ascii: "\""))
        needsComma = true
    }

    /// Any JSON value, through the generic serialiser.
    public mutating func value(_ v: JSON) {
        separate()
        CanonicalJSON.write(v, to: &bytes)
        needsComma = true
    }

    /// Decimal digits (the RFC 8785 form of an integer) without going through a String.
    public static func appendDecimal(_ v: Int64, to out: inout [UInt8]) {
        if v < 0 { out.append(UInt8(ascii: "-")) }
        appendDecimal(v.magnitude, to: &out)
    }

    public static func appendDecimal(_ v: UInt64, to out: inout [UInt8]) {
        var count = 1
        var rest = v / 10
        while rest > 0 {
            count += 1
            rest /= 10
        }
        out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: count))
        var x = v
        var i = out.count - 1
        repeat {
            out[i] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: x % 10)
            x /= 10
            i -= 1
        } while x > 0
    }
}

/// The hot path of sealing: a `consumed` event written straight to its RFC 8785 bytes, keys
/// already in order, without building a JSON tree. `HashChain.seal` asserts (debug builds)
/// that the result equals the generic serialisation, so the two cannot drift apart.
extension Event {
    /// Canonical bytes without `hash`, and the offset where `"hash"` belongs; nil for types
    /// without a fast path.
    func fastCanonical() -> (bytes: [UInt8], hashInsertAt: Int)? {
        guard case .consumed(let c) = body else { return nil }
        var w = CanonicalWriter(capacity: 384)
        w.beginObject()
        // Keys in RFC 8785 order (all ASCII): cost, day, draws, [hash], input_tokens, key,
        // model, operation, output_tokens, overdraft, params, pod, record, seq, task, team,
        // ts, type, user, v.
        w.key("cost"); w.int(c.cost)
        w.key("day"); w.day(c.day)
        w.key("draws")
        w.beginArray()
        for d in c.draws {
            w.beginObject()
            w.key("amount"); w.int(d.amount)
            w.key("bucket_seq"); w.uint(d.bucketSeq)
            w.endObject()
        }
        w.endArray()
        let hashInsertAt = w.bytes.count
        if let v = c.inputTokens { w.key("input_tokens"); w.int(v) }
        if let k = self.key { w.key("key"); w.string(k) }
        w.key("model"); w.string(c.tags.model.string)
        if let op = c.tags.operation { w.key("operation"); w.string(op) }
        if let v = c.outputTokens { w.key("output_tokens"); w.int(v) }
        w.key("overdraft"); w.int(c.overdraft)
        if let p = c.params { w.key("params"); w.value(.object(p)) }
        if let pod = c.tags.pod { w.key("pod"); w.string(pod.string) }
        w.key("record"); w.bool(c.record)
        w.key("seq"); w.uint(seq)
        if let task = c.tags.task { w.key("task"); w.string(task.string) }
        w.key("team"); w.string(c.tags.team.string)
        w.key("ts"); w.instant(ts)
        w.key("type"); w.string("consumed")
        w.key("user"); w.string(c.tags.user.string)
        w.key("v"); w.int(Event.version)
        w.endObject()
        return (w.bytes, hashInsertAt)
    }
}
