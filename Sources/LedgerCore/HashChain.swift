import Crypto
import LedgerJSON

/// The hash chain of PROTOCOL §6: hash(n) = SHA-256(hash(n-1) ‖ canonical bytes of event n),
/// with 32 zero bytes before seq 1. The canonical bytes are the event's RFC 8785 form without
/// `hash`; what is stored (and exported) is the RFC 8785 form with `hash`.
public enum HashChain {
    public static let genesis = [UInt8](repeating: 0, count: 32)

    public static func hash(previous: [UInt8], canonical: [UInt8]) -> [UInt8] {
        precondition(previous.count == 32, "a chain hash is 32 bytes")
        var h = SHA256()
        previous.withUnsafeBytes { h.update(bufferPointer: $0) }
        canonical.withUnsafeBytes { h.update(bufferPointer: $0) }
        return h.finalize().withUnsafeBytes { [UInt8]($0) }
    }

    public static func digest(_ bytes: [UInt8]) -> [UInt8] {
        var h = SHA256()
        bytes.withUnsafeBytes { h.update(bufferPointer: $0) }
        return h.finalize().withUnsafeBytes { [UInt8]($0) }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    public static func hex(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(hexDigits[Int(b >> 4)])
            out.append(hexDigits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func unhex(_ s: String) -> [UInt8]? {
        let u = Array(s.utf8)
        guard u.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(u.count / 2)
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
            default: return nil
            }
        }
        var i = 0
        while i < u.count {
            guard let hi = nibble(u[i]), let lo = nibble(u[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    /// Seals an event after `previous`: its stored bytes (RFC 8785 with `hash`) and its hash.
    /// Serialises once: the canonical bytes are hashed, then `"hash":"…"` is spliced in at its
    /// sorted place, which is exactly the RFC 8785 form of the object with `hash`.
    public static func seal(_ event: Event, previous: [UInt8]) -> (stored: [UInt8], hash: [UInt8]) {
        var w = CanonicalWriter(capacity: 512)
        let sealed: (stored: [UInt8], hash: [UInt8])
        if let insertAt = event.writeFastCanonical(to: &w) {
            sealed = w.withBytes { splice($0, insertAt: insertAt, previous: previous) }
        } else {
            var canonical = [UInt8]()
            canonical.reserveCapacity(512)
            // Byte offset just after the last member whose key sorts before "hash" (1: none does).
            var insertAt = 1
            canonical.append(UInt8(ascii: "{"))
            CanonicalJSON.forEachMemberInOrder(event.json()) { i, m in
                if i > 0 { canonical.append(UInt8(ascii: ",")) }
                CanonicalJSON.writeString(m.key, to: &canonical)
                canonical.append(UInt8(ascii: ":"))
                CanonicalJSON.write(m.value, to: &canonical)
                if CanonicalJSON.utf16Less(m.key, "hash") { insertAt = canonical.count }
            }
            canonical.append(UInt8(ascii: "}"))
            sealed = canonical.withUnsafeBufferPointer { splice($0, insertAt: insertAt, previous: previous) }
        }
        assert(
            sealed.stored
                == CanonicalJSON.bytes(
                    .object(JSONObject(event.json().members + [("hash", .string(hex(sealed.hash)))]))))
        return sealed
    }

    /// Hashes `canonical` after `previous` and writes the stored form: `"hash":"<hex>"` (and its
    /// comma) at `insertAt`, in one allocation.
    private static func splice(_ canonical: UnsafeBufferPointer<UInt8>, insertAt: Int, previous: [UInt8]) -> (
        stored: [UInt8], hash: [UInt8]
    ) {
        precondition(previous.count == 32, "a chain hash is 32 bytes")
        precondition(canonical.count >= 2 && insertAt >= 1 && insertAt < canonical.count, "an object and a place in it")
        var sha = SHA256()
        previous.withUnsafeBytes { sha.update(bufferPointer: $0) }
        sha.update(bufferPointer: UnsafeRawBufferPointer(canonical))
        // Copied out as bytes: converting the digest as a Sequence goes byte by byte.
        let h = sha.finalize().withUnsafeBytes { [UInt8]($0) }
        let member: StaticString = #""hash":""#
        let leadingComma = insertAt != 1
        let trailingComma = insertAt == 1 && canonical.count > 2
        let memberBytes = member.utf8CodeUnitCount + 2 * h.count + 1 + (leadingComma || trailingComma ? 1 : 0)
        let stored = [UInt8](unsafeUninitializedCapacity: canonical.count + memberBytes) { buf, n in
            var c = ByteCursor(buf.baseAddress!)
            c.put(contentsOf: UnsafeBufferPointer(rebasing: canonical[..<insertAt]))
            if leadingComma { c.put(UInt8(ascii: ",")) }
            c.put(contentsOf: UnsafeBufferPointer(start: member.utf8Start, count: member.utf8CodeUnitCount))
            for b in h {
                c.put(hexDigits[Int(b >> 4)])
                c.put(hexDigits[Int(b & 0xF)])
            }
            c.put(UInt8(ascii: "\""))
            if trailingComma { c.put(UInt8(ascii: ",")) }
            c.put(contentsOf: UnsafeBufferPointer(rebasing: canonical[insertAt...]))
            n = c.count
            precondition(n == buf.count, "the stored form is exactly its computed size")
        }
        return (stored, h)
    }

    /// Why a stored or exported event line does not check out.
    public enum Failure: Error, Equatable {
        case unreadable(String)
        case wrongHash(expected: String, stored: String)
        case wrongSeq(expected: UInt64, found: UInt64)
    }

    /// Checks one stored/exported event object against the previous hash; returns its hash.
    /// Re-derives the canonical bytes from the object, so it trusts nothing but the text.
    public static func check(line: [UInt8], previous: [UInt8], expectedSeq: UInt64? = nil) throws(Failure) -> (
        seq: UInt64, hash: [UInt8]
    ) {
        var seq: UInt64 = 0
        let (_, h) = try rederive(line, previous: previous) { o throws(Failure) in
            guard case .number(let n)? = o["seq"], let s = n.int64, s >= 1 else { throw .unreadable("no seq") }
            seq = UInt64(s)
            if let expectedSeq, seq != expectedSeq { throw .wrongSeq(expected: expectedSeq, found: seq) }
        }
        return (seq, h)
    }

    /// Parses an event line, runs `precheck` on it, drops `hash`, re-hashes the rest after
    /// `previous` and compares: the object without `hash` and its verified hash.
    static func rederive(
        _ line: [UInt8], previous: [UInt8], precheck: (JSONObject) throws(Failure) -> Void = { _ in }
    ) throws(Failure) -> (JSONObject, [UInt8]) {
        let parsed: JSON
        do { parsed = try JSONParser.parse(line) } catch { throw .unreadable(error.description) }
        guard case .object(var o) = parsed else { throw .unreadable("not a JSON object") }
        guard case .string(let storedHex)? = o["hash"] else { throw .unreadable("no hash") }
        try precheck(o)
        o["hash"] = nil
        let h = hash(previous: previous, canonical: CanonicalJSON.bytes(.object(o)))
        let hx = hex(h)
        guard hx == storedHex else { throw .wrongHash(expected: hx, stored: storedHex) }
        return (o, h)
    }
}

extension HashChain {
    /// Reads a stored event back: checks its hash against `previous` and its seq, then decodes it.
    public static func open(stored: [UInt8], previous: [UInt8], expectedSeq: UInt64) throws(Failure) -> (
        event: Event, hash: [UInt8]
    ) {
        let (o, h) = try rederive(stored, previous: previous)
        let event: Event
        do { event = try Event(json: o) } catch { throw .unreadable(error.message) }
        guard event.seq == expectedSeq else { throw .wrongSeq(expected: expectedSeq, found: event.seq) }
        return (event, h)
    }
}

extension HashChain.Failure: CustomStringConvertible {
    public var description: String {
        switch self {
        case .unreadable(let m): "unreadable event: \(m)"
        case .wrongHash(let expected, let stored): "hash mismatch: stored \(stored), derived \(expected)"
        case .wrongSeq(let expected, let found): "seq \(found) where \(expected) was expected"
        }
    }
}
