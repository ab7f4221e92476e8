import LedgerCore
import LedgerProtocol
import LedgerStore

/// Requests counted by op and outcome over one batch of lines, so that the shared counters are
/// touched once per (op, outcome) per batch, not once per request. A batch rarely holds more
/// than a few kinds, so a short array beats a dictionary here.
struct RequestTally {
    struct Key: Hashable, Sendable {
        /// Nil for a line whose op could not be read.
        var op: Op?
        /// Nil for a success.
        var code: ErrorCode?
    }

    private(set) var counts: [(key: Key, count: Int)] = []

    mutating func add(_ op: Op?, _ code: ErrorCode?, count: Int = 1) {
        precondition(count > 0)
        let key = Key(op: op, code: code)
        if let i = counts.firstIndex(where: { $0.key == key }) {
            counts[i].count += count
        } else {
            counts.append((key, count))
        }
    }

    mutating func add(_ op: Op?, _ answer: EngineAnswer) {
        switch answer {
        case .success: add(op, nil)
        case .failure(let rejection): add(op, rejection.code)
        }
    }
}
