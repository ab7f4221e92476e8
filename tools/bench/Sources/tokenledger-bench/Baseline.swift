import LMDB

struct BaselineConfig {
    var batch = 64
    var eventBytes = 400
    var warmupSeconds = 2.0
    var durationSeconds = 10.0
}

struct BaselineResult {
    var eventsPerSecond: Double
    var commitsPerSecond: Double
    var events: Int
}

/// What the daemon's storage does per batch, with nothing else: for each event a value of the daemon's size under a
/// big-endian u64 seq with `MDB_APPEND`, a 48-byte idempotency record under a key shaped like the load's keys
/// (`ccc-nnnnnnnnn`, connections interleaved, so not in key order) and its `key_times` entry (event time ‖ key,
/// empty value, for pruning), then one `head` meta record (40 bytes) and one
/// durable commit. Single thread, no socket, no JSON, no hashing.
func runBaseline(directory: String, config: BaselineConfig) throws -> BaselineResult {
    var options = EnvironmentOptions()
    options.mapSizeBytes = 1 << 30  // as LMDBLogStorage opens it
    options.mapGrowthBytes = 1 << 30
    let env = try Environment(directory: directory, options: options)
    defer { env.close() }
    let eventsDB = try env.database("events")
    let keysDB = try env.database("idempotency")
    let metaDB = try env.database("meta")
    let keyTimesDB = try env.database("key_times")

    var value = [UInt8](repeating: 0, count: max(config.eventBytes, 1))
    for i in value.indices { value[i] = UInt8(truncatingIfNeeded: i &* 131 &+ 7) }
    value[0] = 1  // the version byte
    let record = [UInt8](repeating: 0x5A, count: 48)
    // The load runs on a manual clock that does not move: every key has the same event time.
    let keyTimePrefix = BigEndian.bytes(UInt64(1_767_225_600_000))
    let headKey = Array("head".utf8)
    var headValue = [UInt8](repeating: 0xC3, count: 40)

    var seq: UInt64 = 0
    func idempotencyKey(_ s: UInt64) -> [UInt8] {
        var key = [UInt8](repeating: 0, count: 13)
        var c = s % 64, n = s / 64
        for k in stride(from: 2, through: 0, by: -1) { key[k] = UInt8(48 + c % 10); c /= 10 }
        key[3] = UInt8(ascii: "-")
        for k in stride(from: 12, through: 4, by: -1) { key[k] = UInt8(48 + n % 10); n /= 10 }
        return key
    }
    func oneBatch() throws {
        try env.write { txn in
            for _ in 0..<config.batch {
                seq += 1
                try txn.put(eventsDB, BigEndian.bytes(seq), value, append: true)
                let key = idempotencyKey(seq)
                try txn.put(keysDB, key, record)
                try txn.put(keyTimesDB, keyTimePrefix + key, [])
            }
            headValue.replaceSubrange(0..<8, with: BigEndian.bytes(seq))
            try txn.put(metaDB, headKey, headValue)
        }
    }

    let warmEnd = nowNanos() + UInt64(config.warmupSeconds * 1e9)
    while nowNanos() < warmEnd { try oneBatch() }
    let start = nowNanos()
    let end = start + UInt64(config.durationSeconds * 1e9)
    let seq0 = seq
    var commits = 0
    while nowNanos() < end {
        try oneBatch()
        commits += 1
    }
    let seconds = Double(nowNanos() - start) / 1e9
    let events = Int(seq - seq0)
    return BaselineResult(
        eventsPerSecond: Double(events) / seconds, commitsPerSecond: Double(commits) / seconds, events: events)
}
