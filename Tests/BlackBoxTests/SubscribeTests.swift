import Foundation
import LedgerClient
import LedgerJSON
import LedgerTestKit
import Testing

/// §5 `subscribe`: `{subscribed:true}`, then one `{"event":{...}}` line per matching event from
/// `after_seq+1`, in seq order, history then live, until the client closes; a slow subscriber is
/// served from the log on disk and never slows writers or grows the daemon's memory.
@Suite("Subscribe")
struct SubscribeTests {
    /// Reads stream lines until one carries `seq` (or fails after the connection's timeout).
    static func readEvents(_ connection: LedgerConnection, through seq: Int) throws -> [JSON] {
        var events: [JSON] = []
        while events.last?["seq"]?.int ?? 0 < seq {
            guard let line = try connection.readStreamLine() else {
                throw LedgerTestError("the stream ended before seq \(seq); got \(events.count) events")
            }
            guard let event = line["event"], line.keys == ["event"] else {
                throw LedgerTestError("a stream line is not {\"event\":...}: \(line.line)")
            }
            events.append(event)
        }
        return events
    }

    static func subscribe(_ ledger: Ledger, _ fields: KeyValuePairs<String, JSON> = [:]) throws -> LedgerConnection {
        let connection = try ledger.connect(timeoutSeconds: 10)
        let answer = try connection.call("subscribe", fields)
        guard answer["ok"]?.bool == true, answer["subscribed"]?.bool == true else {
            throw LedgerTestError("subscribe was not accepted: \(answer.line)")
        }
        return connection
    }

    /// Polls `stats` until `subscribers` is `count` (the daemon notices a close asynchronously).
    static func waitForSubscribers(_ ledger: Ledger, _ count: Int, timeoutSeconds: Double = 10) throws -> Bool {
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while Date() < deadline {
            if try ledger.ok("stats")["subscribers"]?.int == count { return true }
            usleep(20_000)
        }
        return false
    }

    @Test func subscribe_streamsHistoryThenLive_inSeqOrder_filteredByTeamAndTypes() throws {
        try withLedger { ledger in
            try ledger.makeTeam("a", plan: "pro")
            try ledger.makeTeam("b")
            for i in 0..<3 {
                try ledger.consume(team: "a", cost: 1 + i)
                try ledger.consume(team: "b", cost: 1 + i)
            }
            try ledger.ok("topup", ["team": "a", "amount": 5, "key": "ta"])
            let types: JSON = ["consumed", "topup"]
            let history = try ledger.audit(["team": "a", "types": types])
            #expect(history.count == 4)

            let filtered = try Self.subscribe(ledger, ["team": "a", "types": types])
            let all = try Self.subscribe(ledger)
            let head = try ledger.seq()
            #expect(try Self.readEvents(filtered, through: history.last!["seq"]!.int!) == history)
            let everything = try Self.readEvents(all, through: head)
            #expect(everything == (try ledger.audit()), "the unfiltered stream is the log itself")

            // Live: b's consume and a's user.add are not for the filtered subscriber.
            try ledger.consume(team: "b", cost: 9)
            try ledger.ok("user.add", ["team": "a", "user": "v"])
            try ledger.ok("topup", ["team": "a", "amount": 7, "key": "tb"])
            let last = try ledger.consume(team: "a", cost: 4)
            #expect(last["ok"]?.bool == true)
            let lastSeq = try #require(last["seq"]?.int)
            let live = try Self.readEvents(filtered, through: lastSeq)
            #expect(live.map { $0["type"]?.string } == ["topup", "consumed"])
            #expect(live.map { $0["seq"]?.int } == [lastSeq - 1, lastSeq])
            #expect(live.allSatisfy { $0["team"]?.string == "a" })
            let liveAll = try Self.readEvents(all, through: lastSeq)
            #expect(liveAll.map { $0["seq"]!.int! } == Array((head + 1)...lastSeq), "no gap, no repeat, in order")
            #expect(liveAll == (try ledger.audit(after: head)), "live lines are the stored events, hash included")
        }
    }

    @Test func subscribersPastTheLimit_areAnsweredUnavailable_untilOneCloses() throws {
        try withLedger(manualClock + ["--max-subscribers", "2"]) { ledger in
            let first = try Self.subscribe(ledger)
            let second = try Self.subscribe(ledger)
            let third = try ledger.connect()
            expectError(try third.call("subscribe", [:]), code: "unavailable")
            #expect(try ledger.ok("stats")["subscribers"]?.int == 2)
            first.close()
            #expect(try Self.waitForSubscribers(ledger, 1))
            let again = try Self.subscribe(ledger)
            again.close()
            second.close()
            third.close()
        }
    }

    @Test func subscribe_fromAnAfterSeqInTheMiddle_startsRightAfterIt() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t")
            for _ in 0..<10 { try ledger.consume(cost: 1) }
            let head = try ledger.seq()
            let middle = head / 2
            let connection = try Self.subscribe(ledger, ["after_seq": JSON(middle)])
            let events = try Self.readEvents(connection, through: head)
            #expect(events.map { $0["seq"]!.int! } == Array((middle + 1)...head))
            #expect(events == (try ledger.audit(after: middle)))
        }
    }

    @Test func subscribe_afterSeqBeyondTheHead_waitsUntilTheLogGetsThere() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t")
            let head = try ledger.seq()
            let connection = try Self.subscribe(ledger, ["after_seq": JSON(head + 2)])
            for _ in 0..<3 { try ledger.consume(cost: 1) }
            let events = try Self.readEvents(connection, through: head + 3)
            #expect(events.map { $0["seq"]?.int } == [head + 3])
        }
    }

    @Test func subscribe_seesTheWritesBeforeItOnItsConnection_andIgnoresTheRequestsAfterIt() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t")
            let head = try ledger.seq()
            let connection = try ledger.connect(timeoutSeconds: 10)
            let consume = JSON.request(
                "consume", ["team": "t", "user": "u", "model": "m", "cost": 3, "key": "before", "id": 1])
            let subscribe = JSON.request("subscribe", ["after_seq": JSON(head), "id": 2])
            let ping = JSON.request("ping", ["id": 3])
            let bytes = [consume, subscribe, ping].map { $0.line + "\n" }.joined()
            try connection.sendRaw(Array(bytes.utf8), expectedAnswers: ["consume", "subscribe"])
            let consumed = try connection.readResponse()
            #expect(consumed["seq"]?.int == head + 1)
            #expect(try connection.readResponse()["subscribed"]?.bool == true)
            let first = try Self.readEvents(connection, through: head + 1)
            #expect(first.map { $0["seq"]?.int } == [head + 1])
            #expect(first.first?["key"]?.string == "before")
            // The ping after the subscribe got no answer: the next line is the next event.
            try ledger.consume(cost: 1)
            let next = try #require(try connection.readStreamLine())
            #expect(next["event"]?["seq"]?.int == head + 2, "got \(next.line)")
        }
    }

    @Test func subscribe_badInput_isRefusedAndTheConnectionStaysUsable() throws {
        try withLedger { ledger in
            try ledger.fails("subscribe", ["types": ["no_such_type"]], code: "bad_request", schemaRejects: true)
            try ledger.fails("subscribe", ["after_seq": -1], code: "bad_request", schemaRejects: true)
            try ledger.fails("subscribe", ["team": ""], code: "bad_request", schemaRejects: true)
            try ledger.fails("subscribe", ["bogus": 1], code: "bad_request", schemaRejects: true)
            #expect(try ledger.ok("stats")["subscribers"]?.int == 0)
            try ledger.ok("ping")
        }
    }

    @Test func subscribe_whenTheClientCloses_theSubscriberIsFreed() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t")
            for _ in 0..<2_000 / 100 {
                let requests = (0..<100).map { _ in
                    JSON.request(
                        "consume",
                        ["team": "t", "user": "u", "model": "m", "cost": 1, "key": .string(Ledger.freshKey())])
                }
                _ = try ledger.connection.pipeline(requests)
            }
            #expect(try ledger.ok("stats")["subscribers"]?.int == 0)
            // One waits at the head; one has history it was never asked to read; one is a rare filter.
            let atHead = try Self.subscribe(ledger, ["after_seq": JSON(try ledger.seq())])
            let unread = try Self.subscribe(ledger)
            let rare = try Self.subscribe(ledger, ["team": "nobody"])
            #expect(try Self.waitForSubscribers(ledger, 3))
            let connections = try #require(try ledger.ok("stats")["connections"]?.int)
            atHead.close()
            unread.close()
            rare.close()
            #expect(try Self.waitForSubscribers(ledger, 0), "closing the clients frees their subscriptions")
            #expect(try ledger.ok("stats")["connections"]?.int == connections - 3)
            // Writes go on as before.
            #expect(try ledger.consume(cost: 1)["ok"]?.bool == true)
        }
    }

    @Test func subscribe_whenTheDaemonStops_streamsEndAndItExitsCleanly() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t")
            for _ in 0..<20 {
                let requests = (0..<100).map { _ in
                    JSON.request(
                        "consume",
                        ["team": "t", "user": "u", "model": "m", "cost": 1, "key": .string(Ledger.freshKey())])
                }
                _ = try ledger.connection.pipeline(requests)
            }
            // One never reads (its socket is full of history), one waits at the head.
            let unread = try ledger.daemon.connect(timeoutSeconds: 10)
            try unread.send(#"{"op":"subscribe"}"#)
            let waiting = try Self.subscribe(ledger, ["after_seq": JSON(try ledger.seq())])
            #expect(try Self.waitForSubscribers(ledger, 2))
            usleep(200_000)
            let started = Date()
            let stopped = try ledger.daemon.stop()
            let seconds = Date().timeIntervalSince(started)
            #expect(stopped == .exited(0), "SIGTERM with live subscribers: \(stopped)")
            #expect(seconds < 5, "a subscriber that does not read holds up the shutdown (\(seconds) s)")
            #expect(try waiting.readStreamLine() == nil, "the waiting stream ends")
            // The stuck one was cut: what it gets is whole lines, perhaps ending in part of one.
            var lines: [String] = []
            while let line = try unread.readLine() { lines.append(line) }
            #expect(lines.first == #"{"ok":true,"subscribed":true}"#)
            #expect(lines.count < 2_020, "the unread stream ends too (after \(lines.count) lines)")
            for (i, line) in lines.dropFirst().dropLast().enumerated() {
                #expect(line.hasPrefix(#"{"event":{"#) && line.contains(#","seq":\#(i + 1),"#))
            }
        }
    }

    /// Bounds for the stuck-subscriber test (see README, "subscribe"). The daemon's VmRSS includes
    /// the pages of the memory-mapped log it touched (RssFile), which grow with the log whatever
    /// subscribers do; its own memory (RssAnon) is what a buffering subscriber would grow: 100,000
    /// events of ~330 bytes held in memory would add 30+ MiB to it.
    static let stuckTotalKiBMax = 256 * 1024
    static let stuckAnonymousGrowthKiBMax = 16 * 1024

    @Test func subscribe_whenTheSubscriberNeverReads_writersKeepTheirPaceAndMemoryStaysBounded() throws {
        try withLedger { ledger in
            // An unlimited pool: nothing refuses 108,000 consumes.
            try ledger.makeTeam("t", plan: "enterprise")
            let pid = try #require(ledger.daemon.pid)
            let socket = ledger.daemon.socketPath
            let baselineEvents = 4_000
            let stuckEvents = 100_000

            // Without a subscriber, before and after (the log's growth weighs on both sides alike).
            let before = try appendConsumes(
                socketPath: socket, team: "t", user: "u", total: baselineEvents, keyPrefix: "before")
            #expect(before.acked == baselineEvents, "\(before.problems.prefix(5))")
            let memoryBefore = try ResidentMemory(pid: pid)

            // Subscribes from seq 0 and never reads: its socket fills at once with the history.
            let stuck = try LineClient(socketPath: socket, timeoutSeconds: 30)
            defer { stuck.close() }
            try stuck.send(#"{"op":"subscribe","id":"stuck"}"#)
            #expect(try Self.waitForSubscribers(ledger, 1))
            usleep(200_000)

            let sampler = MemorySampler(pid: pid)
            let loaded = try appendConsumes(
                socketPath: socket, team: "t", user: "u", total: stuckEvents, keyPrefix: "stuck")
            let peak = sampler.stop()
            #expect(loaded.acked == stuckEvents, "every write succeeds: \(loaded.problems.prefix(5))")

            // The subscriber was only waiting: it reads on from where its socket stopped, in order.
            #expect(try stuck.readLine() == #"{"id":"stuck","ok":true,"subscribed":true}"#)
            for seq in 1...2_000 {
                let line = try #require(try stuck.readLine())
                let expected = #","seq":\#(seq),"#
                #expect(line.hasPrefix(#"{"event":{"#) && line.contains(expected), "line \(seq): \(line)")
                if !line.contains(expected) { break }
            }
            stuck.close()
            #expect(try Self.waitForSubscribers(ledger, 0))

            let after = try appendConsumes(
                socketPath: socket, team: "t", user: "u", total: baselineEvents, keyPrefix: "after")
            #expect(after.acked == baselineEvents, "\(after.problems.prefix(5))")

            let rateWithout = Double(2 * baselineEvents) / (before.seconds + after.seconds)
            let rateWith = Double(stuckEvents) / loaded.seconds
            print(
                "stuck subscriber: \(stuckEvents) events appended at \(Int(rateWith))/s with it, "
                    + "\(2 * baselineEvents) at \(Int(rateWithout))/s without "
                    + "(\(String(format: "%.2f", rateWith / rateWithout))×); "
                    + "daemon memory before \(memoryBefore), peak while stuck \(peak)")
            #expect(
                rateWith >= 0.5 * rateWithout,
                "a stuck subscriber must not slow writers: \(Int(rateWith))/s vs \(Int(rateWithout))/s")
            #expect(peak.totalKiB < Self.stuckTotalKiBMax, "VmRSS peaked at \(peak)")
            #expect(
                peak.anonymousKiB - memoryBefore.anonymousKiB < Self.stuckAnonymousGrowthKiBMax,
                "the daemon's own memory grew from \(memoryBefore) to \(peak)")
        }
    }
}

/// Samples the daemon's memory every 100 ms on a thread of its own, keeping the peak VmRSS.
final class MemorySampler: @unchecked Sendable {
    private let lock = NSLock()
    private var peak: ResidentMemory?
    private var running = true
    private let finished = DispatchSemaphore(value: 0)

    init(pid: pid_t) {
        let thread = Thread { [self] in
            while lock.withLock({ running }) {
                if let now = try? ResidentMemory(pid: pid) {
                    lock.withLock {
                        if peak == nil || now.totalKiB > peak!.totalKiB { peak = now }
                    }
                }
                usleep(100_000)
            }
            finished.signal()
        }
        thread.start()
    }

    /// Stops sampling; the sample with the highest VmRSS.
    func stop() -> ResidentMemory {
        lock.withLock { running = false }
        finished.wait()
        return lock.withLock { peak! }
    }
}
