import Testing

@testable import LedgerProjections

@Suite("The bulk fold's interner numbers byte strings")
struct ByteInternerTests {
    @Test func sameBytes_getTheSameId_andIdsStartAtOne() {
        var i = ByteInterner(capacity: 1)
        let a = i.intern(Array("team-a".utf8))
        let b = i.intern(Array("team-b".utf8))
        #expect(a == 1)
        #expect(b == 2)
        #expect(i.intern(Array("team-a".utf8)) == a)
        #expect(i.intern(Array("team-b".utf8)) == b)
        #expect(i.count == 2)
    }

    @Test(arguments: [
        ("", "a"), ("a", "ab"), ("ab", "ba"), ("2026-01-01", "2026-01-02"), ("u\u{0}", "u"), ("é", "e"),
    ])
    func differentBytes_getDifferentIds(x: String, y: String) {
        var i = ByteInterner()
        let a = i.intern(Array(x.utf8))
        let b = i.intern(Array(y.utf8))
        #expect(a != b)
        #expect(a != 0 && b != 0)
        #expect(Array(i.bytes(a)) == Array(x.utf8))
        #expect(Array(i.bytes(b)) == Array(y.utf8))
        #expect(i.length(a) == x.utf8.count)
    }

    @Test func manyStrings_surviveGrowth_andReadBack() {
        var i = ByteInterner(capacity: 1)
        var ids: [UInt32] = []
        for k in 0..<20_000 { ids.append(i.intern(Array("task-\(k * 7919 % 100_003)".utf8))) }
        #expect(Set(ids).count == 20_000)
        #expect(i.count == 20_000)
        for k in stride(from: 0, to: 20_000, by: 37) {
            let s = Array("task-\(k * 7919 % 100_003)".utf8)
            #expect(i.intern(s) == ids[k])
            #expect(Array(i.bytes(ids[k])) == s)
        }
        #expect(i.count == 20_000)
    }

    @Test func scanRaw_ranges_giveTheSameFactsAsTheScanner() throws {
        let event = Array(
            #"{"cost":7,"day":"2026-01-02","input_tokens":3,"model":"m","operation":"chat","output_tokens":4,"pod":"p","seq":9,"task":"t","team":"bench","type":"consumed","user":"u1"}"#
                .utf8)
        let viaRanges = event.withUnsafeBufferPointer { b -> EventFacts? in
            var r = RawFacts()
            guard FactScanner.scanRaw(b, into: &r) == .scanned else { return nil }
            var f = r.facts(b)
            f.seq = 9
            return f
        }
        #expect(viaRanges == (try FactScanner.facts(event, seq: 9)))
        #expect(viaRanges?.kind == .consumed)
        #expect(viaRanges?.team == Array("bench".utf8))
    }
}
