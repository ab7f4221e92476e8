/// Writes RFC 8785 bytes member by member, for the hot paths that already know their keys'
/// order (sealing a `consumed` event, the `consume` and `check` answers). The caller must add
/// members in RFC 8785 order; every user of it asserts (debug builds) that its bytes equal the
/// generic serialisation of the same JSON tree, so the two cannot drift apart.
///
/// It writes into a buffer of its own with plain stores (no `Array.append` per token), grown
/// when needed, and hands out an array once at the end.
public struct CanonicalWriter: ~Copyable {
    private var base: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    /// Bytes written so far.
    public private(set) var count = 0
    /// A value was just completed at the current depth: the next member or element needs a comma.
    private var needsComma = false

    public init(capacity: Int) {
        self.capacity = max(capacity, 64)
        base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    /// The bytes written, as an array.
    public var bytes: [UInt8] { Array(UnsafeBufferPointer(start: base, count: count)) }

    /// Runs `body` on the bytes written (valid only inside it).
    public func withBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: base, count: count))
    }

    @inline(__always)
    private mutating func reserve(_ n: Int) {
        if count + n > capacity { grow(n) }
    }

    private mutating func grow(_ n: Int) {
        let newCapacity = max(capacity * 2, count + n)
        let newBase = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        newBase.update(from: base, count: count)
        base.deallocate()
        base = newBase
        capacity = newCapacity
    }

    @inline(__always)
    private mutating func put(_ b: UInt8) {
        reserve(1)
        base[count] = b
        count += 1
    }

    @inline(__always)
    private mutating func put(_ p: UnsafePointer<UInt8>, _ n: Int) {
        reserve(n)
        (base + count).update(from: p, count: n)
        count += n
    }

    @inline(__always)
    private mutating func put(_ s: StaticString) {
        put(s.utf8Start, s.utf8CodeUnitCount)
    }

    @inline(__always)
    private mutating func separate() {
        if needsComma { put(UInt8(ascii: ",")) }
    }

    /// `"k":` (the key must be plain ASCII that needs no escape).
    @inline(__always)
    public mutating func key(_ k: StaticString) {
        separate()
        reserve(k.utf8CodeUnitCount + 3)
        base[count] = UInt8(ascii: "\"")
        (base + count + 1).update(from: k.utf8Start, count: k.utf8CodeUnitCount)
        count += k.utf8CodeUnitCount + 1
        base[count] = UInt8(ascii: "\"")
        base[count + 1] = UInt8(ascii: ":")
        count += 2
        needsComma = false
    }

    public mutating func beginObject() {
        separate()
        put(UInt8(ascii: "{"))
        needsComma = false
    }

    public mutating func endObject() {
        put(UInt8(ascii: "}"))
        needsComma = true
    }

    public mutating func beginArray() {
        separate()
        put(UInt8(ascii: "["))
        needsComma = false
    }

    public mutating func endArray() {
        put(UInt8(ascii: "]"))
        needsComma = true
    }

    public mutating func int(_ v: Int64) {
        separate()
        if v < 0 { put(UInt8(ascii: "-")) }
        digits(v.magnitude)
        needsComma = true
    }

    public mutating func uint(_ v: UInt64) {
        separate()
        digits(v)
        needsComma = true
    }

    private mutating func digits(_ v: UInt64) {
        var n = 1
        var rest = v / 10
        while rest > 0 {
            n += 1
            rest /= 10
        }
        reserve(n)
        var x = v
        var i = count + n
        while i > count {
            i -= 1
            base[i] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: x % 10)
            x /= 10
        }
        count += n
    }

    public mutating func bool(_ b: Bool) {
        separate()
        put(b ? "true" : "false")
        needsComma = true
    }

    public mutating func string(_ s: String) {
        separate()
        var utf8 = s
        let written = utf8.withUTF8 { bytes in
            // Nothing to escape (the usual case): the bytes as they are.
            guard !bytes.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }) else { return false }
            reserve(bytes.count + 2)
            base[count] = UInt8(ascii: "\"")
            if let p = bytes.baseAddress { (base + count + 1).update(from: p, count: bytes.count) }
            count += bytes.count + 1
            base[count] = UInt8(ascii: "\"")
            count += 1
            return true
        }
        if !written {
            var escaped: [UInt8] = []
            CanonicalJSON.writeString(s, to: &escaped)
            escaped.withUnsafeBufferPointer { put($0.baseAddress!, $0.count) }
        }
        needsComma = true
    }

    /// A string value that is plain ASCII needing no escape (`"consumed"`, an enum's name).
    public mutating func string(_ s: StaticString) {
        separate()
        put(UInt8(ascii: "\""))
        put(s)
        put(UInt8(ascii: "\""))
        needsComma = true
    }

    /// A string value that `write` formats in place: plain ASCII that needs no escape, at most
    /// `room` bytes, written at the pointer it is given; it returns the bytes it wrote. Dates and
    /// times use it (their formatters live with their types).
    @inline(__always)
    public mutating func quoted(room: Int, _ write: (UnsafeMutablePointer<UInt8>) -> Int) {
        separate()
        reserve(room + 2)
        base[count] = UInt8(ascii: "\"")
        let n = write(base + count + 1)
        precondition(n >= 0 && n <= room, "the field fits the room it asked for")
        base[count + 1 + n] = UInt8(ascii: "\"")
        count += n + 2
        needsComma = true
    }

    /// Any JSON value, through the generic serialiser.
    public mutating func value(_ v: JSON) {
        separate()
        var out: [UInt8] = []
        CanonicalJSON.write(v, to: &out)
        out.withUnsafeBufferPointer { if let p = $0.baseAddress { put(p, $0.count) } }
        needsComma = true
    }
}
