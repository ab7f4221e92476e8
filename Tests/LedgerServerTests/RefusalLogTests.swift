import NIOCore
import Testing

@testable import LedgerServer

@Suite("RefusalLog")
struct RefusalLogTests {
    /// Refusals at these milliseconds → what each one logs (nil: quiet), with a 10 s interval.
    @Test(
        arguments: [
            ([0], [1]),
            ([0, 1, 2, 3], [1, nil, nil, nil]),
            ([0, 5_000, 9_999, 10_000], [1, nil, nil, 3]),
            ([0, 10_000, 20_001, 20_002], [1, 1, 1, nil]),
            ([0, 1, 2, 30_000], [1, nil, nil, 3]),
        ] as [([Int64], [Int?])])
    func refusals_logTheFirstAtOnce_thenOneLinePerIntervalWithTheCount(atMs: [Int64], logged: [Int?]) {
        var log = RefusalLog(interval: .seconds(10))
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        let got = atMs.map { log.refused(now: start + .milliseconds($0)) }
        #expect(got == logged)
    }

    @Test func everyRefusal_isCountedInExactlyOneLine_onceTheIntervalHasPassed() {
        var log = RefusalLog(interval: .seconds(1))
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        var total = 0
        for i in 0..<20_000 {
            total += log.refused(now: start + .microseconds(Int64(i) * 100)) ?? 0  // 10,000 a second
        }
        total += log.refused(now: start + .seconds(10)) ?? 0
        #expect(total == 20_001)
    }
}
