import Foundation
import Glibc
import LedgerServer
import LedgerStore
import Synchronization
import Testing

/// End to end: a real `UnixSocketServer` on a temporary path, plain POSIX clients on their own threads.
@Suite("UnixSocketServer", .serialized)
struct UnixSocketServerTests {
    private func withServer<T>(
        _ service: any RequestBatchHandler,
        configure: (inout ServerConfig) -> Void = { _ in },
        _ body: (UnixSocketServer, String) async throws -> T
    ) async throws -> T {
        let path = temporarySocketPath()
        var config = ServerConfig(socketPath: path, eventLoopThreads: 2)
        configure(&config)
        let server = UnixSocketServer(config: config, handler: service, logger: quietLogger)
        try await server.start()
        do {
            let result = try await body(server, path)
            await server.shutdown()
            return result
        } catch {
            await server.shutdown()
            throw error
        }
    }

    @Test func pipelinedRequests_fromSeveralClients_comeBackInOrderPerConnection() async throws {
        let service = EchoService(delayMs: 2)
        let perClient = 3000
        try await self.withServer(service) { _, path in
            try await withThrowingTaskGroup(of: (Int, [String]).self) { group in
                for client in 0..<4 {
                    group.addTask {
                        try await onThread {
                            let connection = try TestClient(path: path)
                            // Several writes, so lines also arrive while a batch is in flight.
                            for chunk in stride(from: 0, to: perClient, by: 500) {
                                try connection.send((chunk..<chunk + 500).map { "\(client):\($0)\n" }.joined())
                            }
                            return (client, try connection.readLines(perClient))
                        }
                    }
                }
                var clientsDone = 0
                for try await (client, answers) in group {
                    #expect(answers == (0..<perClient).map { EchoService.answer("\(client):\($0)") })
                    clientsDone += 1
                }
                #expect(clientsDone == 4)
            }
        }
        let record = service.record.withLock { $0 }
        #expect(!record.overlapSeen, "a connection never has two batches in flight")
        #expect(record.linesReceived == 4 * perClient)
        #expect(record.batchSizes.contains { $0 > 1 }, "lines that arrive meanwhile are gathered")
        #expect(record.batchSizes.allSatisfy { $0 <= 1024 })
    }

    @Test func aLineOverTheLimit_getsLineTooLongThenClose_whileAnotherConnectionKeepsWorking() async throws {
        let service = EchoService()
        try await self.withServer(service) { server, path in
            let other = try TestClient(path: path)
            let text = try await onThread {
                let client = try TestClient(path: path)
                try client.send("a:1\n")
                try client.send("a:2\n" + String(repeating: "x", count: 200_000) + "\n" + "a:3\n")
                return try client.readToEnd()
            }
            let lines = text.split(separator: "\n").map(String.init)
            #expect(lines.count == 3, "two answers, line_too_long, then the connection is closed")
            #expect(Array(lines.prefix(2)) == [EchoService.answer("a:1"), EchoService.answer("a:2")])
            #expect(
                lines.last == #"{"ok":false,"error":{"code":"line_too_long","message":"line exceeds 65536 bytes"}}"#)

            let otherAnswers = try await onThread {
                try other.send("b:1\nb:2\n")
                return try other.readLines(2)
            }
            #expect(otherAnswers == [EchoService.answer("b:1"), EchoService.answer("b:2")])
            #expect(await eventually { server.connectionCount == 1 })
        }
    }

    @Test func theEarlierLinesOfALongLinesRead_areAnsweredBeforeLineTooLong() async throws {
        let service = EchoService()
        try await self.withServer(service, configure: { $0.lineBytesMax = 100 }) { _, path in
            let text = try await onThread {
                let client = try TestClient(path: path)
                try client.send("a:1\na:2\n" + String(repeating: "y", count: 101) + "\na:3\n")
                return try client.readToEnd()
            }
            let lines = text.split(separator: "\n").map(String.init)
            #expect(lines.count == 3)
            #expect(Array(lines.prefix(2)) == [EchoService.answer("a:1"), EchoService.answer("a:2")])
            #expect(lines.last == #"{"ok":false,"error":{"code":"line_too_long","message":"line exceeds 100 bytes"}}"#)
        }
    }

    @Test func theConnectionOverTheLimit_getsOneUnavailableLine_andOthersAreUndisturbed() async throws {
        let service = EchoService()
        try await self.withServer(service, configure: { $0.connectionsMax = 2 }) { server, path in
            let first = try TestClient(path: path)
            let second = try TestClient(path: path)
            let warmUp = try await onThread {
                try first.send("a:1\n")
                try second.send("b:1\n")
                return (try first.readLine(), try second.readLine())
            }
            #expect(warmUp.0 == EchoService.answer("a:1"))
            #expect(warmUp.1 == EchoService.answer("b:1"))
            #expect(server.connectionCount == 2)

            let refused = try await onThread { try TestClient(path: path).readToEnd() }
            #expect(
                refused == #"{"ok":false,"error":{"code":"unavailable","message":"connection limit (2) reached"}}"#
                    + "\n")
            #expect(server.connectionCount == 2)

            let still = try await onThread {
                try first.send("a:2\n")
                return try first.readLine()
            }
            #expect(still == EchoService.answer("a:2"))

            // A slot freed is a slot again.
            Glibc.shutdown(second.fd, Int32(SHUT_RDWR))
            #expect(await eventually { server.connectionCount == 1 })
            let third = try await onThread {
                let client = try TestClient(path: path)
                try client.send("c:1\n")
                return try client.readLine()
            }
            #expect(third == EchoService.answer("c:1"))
        }
    }

    @Test func theSocketFile_hasMode0660_andTheConfiguredGroup() async throws {
        let group = getgid()
        try await self.withServer(EchoService(), configure: { $0.socketGroup = "\(group)" }) { _, path in
            var info = stat()
            #expect(stat(path, &info) == 0)
            #expect(info.st_mode & 0o777 == 0o660)
            #expect(info.st_mode & S_IFMT == S_IFSOCK)
            #expect(info.st_gid == group)
        }
    }

    @Test func aGroupGivenByName_isResolved_andAnUnknownOneIsAClearError() async throws {
        let name = try #require(getgrgid(getgid())).pointee.gr_name.map { String(cString: $0) }
        try await self.withServer(EchoService(), configure: { $0.socketGroup = name }) { _, path in
            var info = stat()
            #expect(stat(path, &info) == 0)
            #expect(info.st_gid == getgid())
        }
        let path = temporarySocketPath()
        let server = UnixSocketServer(
            config: ServerConfig(socketPath: path, socketGroup: "no-such-group-tl", eventLoopThreads: 1),
            handler: EchoService(),
            logger: quietLogger
        )
        await #expect(throws: ServerError.unknownGroup("no-such-group-tl")) { try await server.start() }
        #expect(access(path, F_OK) != 0, "no socket file is left behind")
    }

    @Test func aStaleSocketFile_isReplaced() async throws {
        let path = temporarySocketPath()
        // A socket file nobody listens on: what a killed daemon leaves.
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8) + [0]) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        #expect(bound == 0)
        close(fd)
        #expect(access(path, F_OK) == 0)

        let server = UnixSocketServer(
            config: ServerConfig(socketPath: path, eventLoopThreads: 1),
            handler: EchoService(),
            logger: quietLogger
        )
        try await server.start()
        let answer = try await onThread {
            let client = try TestClient(path: path)
            try client.send("a:1\n")
            return try client.readLine()
        }
        #expect(answer == EchoService.answer("a:1"))
        await server.shutdown()
        #expect(access(path, F_OK) != 0, "shutdown removes the socket file")
    }

    @Test func aLiveSocket_isNotTakenOver() async throws {
        try await self.withServer(EchoService()) { _, path in
            let second = UnixSocketServer(
                config: ServerConfig(socketPath: path, eventLoopThreads: 1),
                handler: EchoService(),
                logger: quietLogger
            )
            await #expect(throws: ServerError.socketInUse(path)) { try await second.start() }
            let answer = try await onThread {
                let client = try TestClient(path: path)
                try client.send("a:1\n")
                return try client.readLine()
            }
            #expect(answer == EchoService.answer("a:1"), "the first server still serves")
        }
    }

    @Test func aPathThatIsNotASocket_isLeftAlone() async throws {
        let path = temporarySocketPath()
        #expect(FileManager.default.createFile(atPath: path, contents: Data("keep".utf8)))
        defer { unlink(path) }
        let server = UnixSocketServer(
            config: ServerConfig(socketPath: path, eventLoopThreads: 1),
            handler: EchoService(),
            logger: quietLogger
        )
        await #expect(throws: ServerError.notASocket(path)) { try await server.start() }
        #expect(FileManager.default.contents(atPath: path) == Data("keep".utf8))
    }

    @Test func shutdown_withRequestsInFlight_answersThemBeforeClosing() async throws {
        let service = EchoService(delayMs: 300)
        let path = temporarySocketPath()
        let server = UnixSocketServer(
            config: ServerConfig(socketPath: path, eventLoopThreads: 2),
            handler: service,
            logger: quietLogger
        )
        try await server.start()
        let client = try TestClient(path: path)
        var started = service.batchStarted.makeAsyncIterator()
        try await onThread { try client.send((1...5).map { "a:\($0)\n" }.joined()) }
        _ = await started.next()  // the first batch is in the service now
        // Lines read while that batch is in flight are answered too: they were read, not refused.
        try await onThread { try client.send((6...8).map { "a:\($0)\n" }.joined()) }
        #expect(await eventually { service.record.withLock { $0.linesReceived } >= 1 })
        try await Task.sleep(for: .milliseconds(50))  // let the server read 6...8 (they gather behind 1...5)

        async let stopped: Void = server.shutdown()
        let text = try await onThread { try client.readToEnd() }
        await stopped
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines == (1...8).map { EchoService.answer("a:\($0)") })
        #expect(server.connectionCount == 0)
        #expect(throws: (any Error).self) { try TestClient(path: path) }
    }

    @Test func aClientThatHalfCloses_stillGetsEveryAnswer() async throws {
        try await self.withServer(EchoService(delayMs: 5)) { _, path in
            let text = try await onThread {
                let client = try TestClient(path: path)
                try client.send((1...300).map { "a:\($0)\n" }.joined())
                client.shutdownWriting()
                return try client.readToEnd()
            }
            #expect(text.split(separator: "\n").map(String.init) == (1...300).map { EchoService.answer("a:\($0)") })
        }
    }

    @Test func aClientThatDoesNotRead_isHeldByBackpressure_andLosesNothing() async throws {
        let service = EchoService(delayMs: 0)
        let total = 100_000
        try await self.withServer(
            service,
            configure: {
                $0.batchLinesMax = 64
                $0.pendingLinesPerConnectionMax = 256
            }
        ) { _, path in
            let client = try TestClient(path: path)
            let payload = (0..<total).map { "a:\($0)\n" }.joined()
            let sending = Task { try await onThread { try client.send(payload) } }
            // Answers (~2.8 MB) exceed every buffer on the way: the server must stop reading.
            try await Task.sleep(for: .milliseconds(1000))
            let receivedWhileStalled = service.record.withLock { $0.linesReceived }
            #expect(receivedWhileStalled < total, "reading stopped while answers could not be written")

            let answers = try await onThread { try client.readLines(total) }
            #expect(try await sending.value)
            #expect(answers.count == total)
            #expect(answers == (0..<total).map { EchoService.answer("a:\($0)") })
            #expect(service.record.withLock { $0.batchSizes.max() ?? 0 } <= 64)
        }
    }

    @Test func aLineNotFinishedInTime_closesItsConnection_whileABusyOneStaysOpen() async throws {
        let service = EchoService(delayMs: 0)
        try await self.withServer(
            service,
            configure: {
                $0.lineTimeout = .milliseconds(300)
                $0.idleTimeout = .seconds(60)
            }
        ) { _, path in
            let slow = try TestClient(path: path)
            let steady = try TestClient(path: path)
            try slow.send("a:0\na:")  // one whole line, then half of one, never finished
            let started = Date()
            let closedAfter = try await onThread { () throws -> Double in
                #expect(try slow.readLine() == EchoService.answer("a:0"))
                #expect(try slow.readLine() == nil, "closed, with nothing more to say")
                return Date().timeIntervalSince(started)
            }
            #expect(closedAfter >= 0.3 && closedAfter < 5, "closed after \(closedAfter) s")
            // A peer that finishes its lines, however slowly they come in whole, stays.
            for i in 0..<4 {
                try steady.send("b:\(i)\n")
                #expect(try await onThread { try steady.readLine() } == EchoService.answer("b:\(i)"))
                try await Task.sleep(for: .milliseconds(150))
            }
        }
    }

    @Test func anIdleConnection_isClosedAfterTheIdleTimeout_andAnAnsweredOneIsNotIdleUntilThen() async throws {
        let service = EchoService(delayMs: 0)
        try await self.withServer(
            service,
            configure: {
                $0.lineTimeout = .seconds(60)
                $0.idleTimeout = .milliseconds(400)
            }
        ) { _, path in
            let client = try TestClient(path: path)
            let started = Date()
            for i in 0..<5 {
                try client.send("a:\(i)\n")
                #expect(try await onThread { try client.readLine() } == EchoService.answer("a:\(i)"))
                try await Task.sleep(for: .milliseconds(200))
            }
            let closedAfter = try await onThread { () throws -> Double in
                #expect(try client.readLine() == nil)
                return Date().timeIntervalSince(started)
            }
            // Used every 200 ms for 0.8 s, twice the idle timeout, then idle from then on.
            #expect(closedAfter >= 0.8 + 0.4 - 0.1 && closedAfter < 5, "closed after \(closedAfter) s")
        }
    }

    @Test func theGlobalInputBudget_holdsReading_andEveryLineIsStillAnswered() async throws {
        let service = EchoService(delayMs: 5)
        let perClient = 2000
        try await self.withServer(
            service,
            configure: {
                $0.lineBytesMax = 1024
                $0.pendingBytesPerConnectionMax = 8 << 10
                $0.bufferedInputBytesMax = 16 << 10
            }
        ) { server, path in
            let peak = Atomic<Int>(0)
            let watching = Task {
                while !Task.isCancelled {
                    let used = server.inputBudget.usedBytes
                    if used > peak.load(ordering: .relaxed) { peak.store(used, ordering: .relaxed) }
                    try? await Task.sleep(for: .milliseconds(1))
                }
            }
            try await withThrowingTaskGroup(of: Bool.self) { group in
                for client in 0..<6 {
                    group.addTask {
                        let connection = try TestClient(path: path)
                        let pad = String(repeating: "x", count: 200)
                        let payload = (0..<perClient).map { "\(client):\($0)\(pad)\n" }.joined()
                        let sending = Task { try await onThread { try connection.send(payload) } }
                        let answers = try await onThread { try connection.readLines(perClient) }
                        _ = try await sending.value
                        return answers == (0..<perClient).map { EchoService.answer("\(client):\($0)\(pad)") }
                    }
                }
                for try await ok in group { #expect(ok, "every line answered, in order") }
            }
            watching.cancel()
            // Each connection may hold its floor and overshoot by what one read brings, no more.
            let bound = (16 << 10) + 6 * (16 << 10 + UnixSocketServer.readBytesMax)  // the floor, then one read
            #expect(peak.load(ordering: .relaxed) <= bound, "peak \(peak.load(ordering: .relaxed)) over \(bound)")
            // The last answers reach the client as they are flushed; the connection reports what it
            // holds right after the flush, so the budget may still count them for a moment.
            let released = ContinuousClock.now + .seconds(5)
            while server.inputBudget.usedBytes != 0 && ContinuousClock.now < released {
                try await Task.sleep(for: .milliseconds(5))
            }
            #expect(server.inputBudget.usedBytes == 0, "everything released")
        }
    }

    @Test func aClientThatNeverReadsItsAnswers_doesNotStarveTheOthers_whenTheBudgetIsSpent() async throws {
        let service = EchoService(delayMs: 0)
        try await self.withServer(
            service,
            configure: {
                $0.lineBytesMax = 1024
                $0.pendingBytesPerConnectionMax = 24 << 10
                $0.bufferedInputBytesMax = 32 << 10
                $0.shutdownGracePeriod = .seconds(1)
            }
        ) { server, path in
            // Each stuck client holds its pending bytes: together they spend the budget.
            var stuck: [TestClient] = []
            for k in 0..<3 {
                let client = try TestClient(path: path)
                let line = "s\(k):" + String(repeating: "y", count: 500) + "\n"
                let payload = String(repeating: line, count: 4000)
                _ = Task { try? await onThread { try client.send(payload) } }
                stuck.append(client)
            }
            // An unwritable connection stops reading, so each holds what came before: together,
            // more than the budget.
            for _ in 0..<500 where server.inputBudget.usedBytes < 32 << 10 {
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(server.inputBudget.usedBytes >= 32 << 10, "the budget is spent: \(server.inputBudget.usedBytes)")
            let gateway = try TestClient(path: path)
            for i in 0..<50 {
                try gateway.send("g:\(i)\n")
                #expect(try await onThread { try gateway.readLine() } == EchoService.answer("g:\(i)"))
            }
            for client in stuck { client.shutdownWriting() }
        }
    }

    @Test func peerCredentials_comeFromTheKernel() async throws {
        let service = EchoService()
        try await self.withServer(service) { _, path in
            _ = try await onThread {
                let client = try TestClient(path: path)
                try client.send("a:1\n")
                return try client.readLine()
            }
        }
        let peer = try #require(service.record.withLock { $0.peers.first })
        #expect(peer.pid == getpid())
        #expect(peer.uid == getuid())
        #expect(peer.gid == getgid())
        var groups = [gid_t](repeating: 0, count: Int(getgroups(0, nil)))
        let count = getgroups(Int32(groups.count), &groups)
        #expect(Set(peer.groups) == Set(groups.prefix(Int(max(count, 0)))))
    }

    @Test func aSubscription_streamsEvents_andIsCancelledWhenTheClientCloses() async throws {
        let service = StreamingService()
        try await self.withServer(service) { server, path in
            let lines = try await onThread {
                let client = try TestClient(path: path)
                try client.send("subscribe\nignored\n")
                return try client.readLines(1 + StreamingService.eventCount)
            }
            #expect(lines == ["{\"ok\":true}"] + (1...StreamingService.eventCount).map { "e\($0)" })
            #expect(await eventually { service.stream.cancelled.withLock { $0 } })
            #expect(await eventually { server.connectionCount == 0 })
            #expect(service.stream.maxBatchAskedFor.withLock { $0 } == 256)
        }
    }
}

/// Answers the first line with `{"ok":true}` and a stream of `eventCount` events in small pieces,
/// which then waits until cancelled.
final class StreamingService: RequestBatchHandler {
    static let eventCount = 50

    final class Stream: EventLineStream {
        let produced = Locked(0)
        let cancelled = Locked(false)
        let maxBatchAskedFor = Locked(0)

        func next(limit: Int) async throws -> [[UInt8]]? {
            self.maxBatchAskedFor.withLock { $0 = max($0, limit) }
            let range: Range<Int> = self.produced.withLock { produced in
                let start = produced
                produced = min(StreamingService.eventCount, produced + 7)
                return start..<produced
            }
            if range.isEmpty {
                while !self.cancelled.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(5)) }
                return nil
            }
            return range.map { Array("e\($0 + 1)".utf8) }
        }

        func cancel() async {
            self.cancelled.withLock { $0 = true }
        }
    }

    let stream = Stream()

    func handle(_ lines: [[UInt8]], from peer: PeerCredentials) async -> BatchAnswer {
        BatchAnswer(lines: [Array(#"{"ok":true}"#.utf8)], stream: self.stream)
    }
}

/// The group probing of `SO_PEERGROUPS`, run with clients whose groups `setpriv` sets (needs root).
@Suite(
    "Peer groups",
    .serialized,
    .enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"))
)
struct PeerGroupsTests {
    /// Sizes chosen to hit each probe: none, one, gid 0 alone, a few (16 slots), 300 (4096 slots).
    struct Groups: Sendable, CustomTestStringConvertible {
        var list: [UInt32]
        var testDescription: String { self.list.count > 8 ? "\(self.list.count) groups" : "\(self.list)" }
    }

    static let groupLists = [[], [42], [0], [70000, 0, 5, 27, 100, 4000], Array(1...300)].map(Groups.init)

    @Test(arguments: groupLists)
    func peerGroups_areReadExactly_whateverTheirCount(_ testCase: Groups) async throws {
        let groups = testCase.list
        let path = temporarySocketPath()
        let service = EchoService()
        let server = UnixSocketServer(
            config: ServerConfig(socketPath: path, eventLoopThreads: 1),
            handler: service,
            logger: quietLogger
        )
        try await server.start()
        let script = """
            import socket, sys
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(sys.argv[1])
            s.sendall(b"g:1\\n")
            sys.stdout.write(s.makefile().readline())
            """
        let groupArguments =
            groups.isEmpty ? ["--clear-groups"] : ["--groups", groups.map(String.init).joined(separator: ",")]
        let output = try await onThread {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            process.arguments = groupArguments + ["--", "python3", "-c", script, path]
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return String(decoding: data, as: UTF8.self)
        }
        await server.shutdown()
        #expect(output == EchoService.answer("g:1") + "\n")
        let peer = try #require(service.record.withLock { $0.peers.first })
        #expect(peer.groups == groups.sorted())
        #expect(peer.uid == 0)
    }
}
