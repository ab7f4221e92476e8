import LedgerCore
import LedgerJSON
import LedgerProjections
import Testing

@Suite("Percentages round half away from zero to 2 decimals")
struct PercentTests {
    @Test(arguments: [
        (1, 3, "33.33"), (2, 3, "66.67"), (1, 2, "50"), (1, 8, "12.5"), (1, 1, "100"), (0, 5, "0"),
        (-1, 5, "-20"), (-1, 3, "-33.33"), (-2, 3, "-66.67"), (1, 200, "0.5"),
        // 1/20000 is 0.005 %, exactly half a hundredth: away from zero. Just below it, and
        // 1/40000 (0.0025 %), round to 0.
        (1, 20_000, "0.01"), (1, 20_001, "0"), (1, 40_000, "0"), (-1, 20_000, "-0.01"), (-1, 20_001, "0"),
        (-1, 40_000, "0"), (7, 1, "700"),
        (9_007_199_254_740_991, 1, "900719925474099100"),
    ])
    func rounding(_ num: Int64, _ den: Int64, _ want: String) {
        #expect(Percent.of(num, den) == .number(JSONNumber(lexeme: want)))
    }

    @Test func noBaseIsNull() {
        #expect(Percent.of(5, 0) == .null)
        #expect(Percent.of(0, 0) == .null)
    }
}
