import Foundation
import LedgerJSON
import LedgerTestKit

/// Several connections pipelining `consume`s with unique keys in batches, each on its own
/// thread, until the daemon goes away; remembers what was acknowledged, refused and unanswered.
/// Used to SIGTERM or kill -9 the daemon mid-stream and check durability afterwards.
final class ConsumeStream: @unchecked Sendable {
    let socketPath: String
    let team: String
    let user: String
    let batchSize: Int
    let batchesMax: Int
    private let lock = NSLock()
    private var requestsByKey: [String: JSON] = [:]
    private var ackedKeys: Set<String> = []
    private var unavailableKeys: Set<String> = []
    private var unexpected: [String] = []
    private var finished = 0
    private var threads = 0

    init(socketPath: String, team: String, user: String, batchSize: Int = 50, batchesMax: Int = 200) {
        self.socketPath = socketPath
        self.team = team
        self.user = user
        self.batchSize = batchSize
        self.batchesMax = batchesMax
    }

    /// Starts `connections` client threads; `recorder` records the first one's traffic only
    /// (enough for the schemas, without making the check slow).
    func start(connections: Int, recorder: TrafficRecorder?) {
        lock.withLock { threads += connections }
        for worker in 0..<connections {
            let thread = Thread { [self] in
                self.run(worker: worker, recorder: worker == 0 ? recorder : nil)
                self.lock.withLock { self.finished += 1 }
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    var acked: Set<String> { lock.withLock { ackedKeys } }
    var unavailable: Set<String> { lock.withLock { unavailableKeys } }
    var unexpectedAnswers: [String] { lock.withLock { unexpected } }
    var sent: [String: JSON] { lock.withLock { requestsByKey } }

    /// Waits until at least `count` consumes were acknowledged (or `timeoutSeconds` passed).
    @discardableResult
    func waitForAcks(_ count: Int, timeoutSeconds: Double = 60) -> Bool {
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while Date() < deadline {
            let (acks, done) = lock.withLock { (ackedKeys.count, finished == threads) }
            if acks >= count { return true }
            if done { return false }
            usleep(2_000)
        }
        return false
    }

    /// Waits until every client thread has ended.
    func waitUntilFinished(timeoutSeconds: Double = 60) -> Bool {
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while Date() < deadline {
            if lock.withLock({ finished == threads }) { return true }
            usleep(5_000)
        }
        return false
    }

    private func run(worker: Int, recorder: TrafficRecorder?) {
        guard let connection = try? LedgerConnection(socketPath: socketPath, recorder: recorder, timeoutSeconds: 30)
        else { return }
        defer { connection.close() }
        for batch in 0..<batchesMax {
            let requests = (0..<batchSize).map { index -> JSON in
                let key = "w\(worker)-b\(batch)-\(index)"
                return [
                    "op": "consume", "id": .string(key), "team": .string(team), "user": .string(user), "model": "m",
                    "cost": 1, "key": .string(key),
                ]
            }
            lock.withLock {
                for request in requests { requestsByKey[request["key"]!.string!] = request }
            }
            do {
                try connection.sendBatch(requests)
            } catch {
                return
            }
            for request in requests {
                let key = request["key"]!.string!
                guard let answer = try? connection.readResponseOrEOF() else { return }
                lock.withLock {
                    if answer["id"]?.string != key {
                        unexpected.append("answer out of order for \(key): \(answer.line)")
                    } else if answer["ok"]?.bool == true {
                        ackedKeys.insert(key)
                    } else if answer["error"]?["code"]?.string == "unavailable" {
                        unavailableKeys.insert(key)
                    } else {
                        unexpected.append(answer.line)
                    }
                }
            }
        }
    }
}
