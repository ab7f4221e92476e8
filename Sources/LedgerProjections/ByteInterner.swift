/// Short byte strings (ids, days) numbered in the order first seen: a bulk fold keys its
/// tallies by these numbers, so that counting an event hashes each field once and allocates
/// nothing. Id 0 is never given out: callers use it for "absent".
///
/// Open addressing over one byte arena: no allocation per string, no per-string object.
struct ByteInterner {
    /// Every string once, back to back; id `i` is `arena[starts[i - 1]..<starts[i]]`.
    private var arena: [UInt8] = []
    private var starts: [Int] = [0]
    private var hashes: [UInt64] = [0]
    /// 0: empty; otherwise an id. The count is a power of two, at most half full.
    private var slots: [UInt32]
    private var mask: Int

    init(capacity: Int = 1024) {
        var n = 16
        while n < capacity * 2 { n <<= 1 }
        slots = [UInt32](repeating: 0, count: n)
        mask = n - 1
    }

    /// How many strings have an id.
    var count: Int { starts.count - 1 }

    /// The id of `bytes`, given a new one on first sight.
    mutating func intern(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt32 {
        let h = ByteInterner.hash(bytes)
        var i = Int(truncatingIfNeeded: h) & mask
        while true {
            let id = slots[i]
            if id == 0 { break }
            if hashes[Int(id)] == h && equals(Int(id), bytes) { return id }
            i = (i + 1) & mask
        }
        precondition(count < Int(UInt32.max - 1), "interner full")
        let id = UInt32(count + 1)
        arena.append(contentsOf: bytes)
        starts.append(arena.count)
        hashes.append(h)
        slots[i] = id
        if count * 2 > slots.count { grow() }
        assert(self.bytes(id).elementsEqual(bytes))
        return id
    }

    mutating func intern(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBufferPointer { intern($0) }
    }

    /// The bytes of `id` (from `intern`; not 0).
    func bytes(_ id: UInt32) -> ArraySlice<UInt8> {
        precondition(id > 0 && Int(id) <= count, "unknown id \(id)")
        return arena[starts[Int(id) - 1]..<starts[Int(id)]]
    }

    /// The length of `id`'s bytes.
    func length(_ id: UInt32) -> Int { starts[Int(id)] - starts[Int(id) - 1] }

    private func equals(_ id: Int, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        let s = starts[id - 1]
        let e = starts[id]
        guard e - s == b.count else { return false }
        return arena.withUnsafeBufferPointer { a in
            b.count == 0 || memcmpEqual(a.baseAddress! + s, b.baseAddress!, b.count)
        }
    }

    private mutating func grow() {
        let n = slots.count * 2
        slots = [UInt32](repeating: 0, count: n)
        mask = n - 1
        for id in 1...count {
            var i = Int(truncatingIfNeeded: hashes[id]) & mask
            while slots[i] != 0 { i = (i + 1) & mask }
            slots[i] = UInt32(id)
        }
    }

    /// FNV-1a, then a final mix so that the low bits (the slot) depend on every byte.
    static func hash(_ b: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for c in b { h = (h ^ UInt64(c)) &* 0x0000_0100_0000_01B3 }
        h ^= h >> 33
        h = h &* 0xff51_afd7_ed55_8ccd
        h ^= h >> 33
        return h
    }
}

@inline(__always)
private func memcmpEqual(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ n: Int) -> Bool {
    for k in 0..<n where a[k] != b[k] { return false }
    return true
}
