import ArgumentParser
import Foundation
import LedgerClient
import LedgerJSON

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// `tokenledger audit --format csv|json|ndjson [--output FILE]`: the whole filtered log, page by
// page, each page written out before the next is asked for.

enum ExportFormat: String, CaseIterable, ExpressibleByArgument {
    case csv, json, ndjson
}

/// Writes an audit export: pages of `audit` answers in, one format out.
struct AuditExport {
    var fields: RequestFields
    var afterSeq: Int
    var pageLimit: Int
    var format: ExportFormat
    var output: String?
    var global: GlobalOptions

    static let csvColumns = [
        "seq", "ts", "type", "team", "user", "pod", "task", "model", "operation", "input_tokens", "output_tokens",
        "cost", "amount", "key", "hash",
    ]

    func run() throws {
        let started = Date()
        let client = try Exchange.connect(global)
        defer { client.close() }
        // The head now, for the progress bar (the log may grow meanwhile; the export follows it).
        var head = 0
        let ping = try JSON.parse(
            try Exchange.ask(client, Exchange.requestLine(op: "ping", fields: RequestFields(), id: nil), global: global)
        )
        if ping["ok"]?.bool == true { head = ping["seq"]?.int ?? 0 }

        var progress = ExportProgress(
            enabled: isatty(STDERR_FILENO) != 0 && (output != nil || isatty(STDOUT_FILENO) == 0), started: started)
        var count = 0
        var firstSeq: Int?
        var lastSeq: Int?
        do {
            let sink = try ExportSink(path: output)
            defer { sink.abandon() }
            var writer = RecordWriter(format: format, sink: sink)
            try writer.begin()
            var after = afterSeq
            while true {
                let page = try nextPage(client, after: after)
                for range in page.events { try writer.event(page.bytes[range]) }
                if let first = page.events.first, firstSeq == nil { firstSeq = Self.seq(of: page.bytes[first]) }
                if let last = page.events.last { lastSeq = Self.seq(of: page.bytes[last]) ?? lastSeq }
                let reached = page.next ?? max(head, lastSeq ?? after)
                head = max(head, reached)
                progress.update(events: writer.count, seq: reached, head: head)
                guard let next = page.next else { break }
                after = next
            }
            try writer.end()
            try sink.commit()
            count = writer.count
            progress.clear()
        } catch let failure as ExportFailure {
            progress.clear()
            printError(failure.message)
            throw ExitCode(failure.exitCode)
        } catch {
            progress.clear()
            throw error
        }

        let seconds = Date().timeIntervalSince(started)
        let rate = seconds > 0 ? Int(Double(count) / seconds) : count
        let range = firstSeq.map { "seq \($0)..\(lastSeq ?? $0)" } ?? "no events"
        printError(
            "exported \(Renderer.grouped(count)) event\(count == 1 ? "" : "s") (\(range)) as "
                + "\(format.rawValue) to \(output ?? "standard output") in \(String(format: "%.1f", seconds)) s "
                + "(\(Renderer.grouped(rate)) events/s)")
    }

    /// One `audit` answer after `after`: its bytes, the ranges of its events in them, and
    /// `next_after_seq` (nil once the scan reached the head).
    func nextPage(_ client: LineClient, after: Int) throws -> (bytes: [UInt8], events: [Range<Int>], next: Int?) {
        var page = fields
        page.add("after_seq", after)
        page.add("limit", pageLimit)
        let line = try Exchange.ask(
            client, Exchange.requestLine(op: "audit", fields: page, id: global.idValue), global: global)
        let bytes = Array(line.utf8)
        let members: [(key: String, value: Range<Int>)]
        do {
            members = try RawJSON.members(bytes)
        } catch {
            throw ExportFailure(
                "error: the daemon sent an unreadable audit answer (\(error)): \(line.prefix(300))",
                Exchange.connectionExitCode)
        }
        func raw(_ key: String) -> ArraySlice<UInt8>? {
            members.first { $0.key == key }.map { bytes[$0.value] }
        }
        guard raw("ok").map({ $0.elementsEqual("true".utf8) }) == true,
            let eventsRange = members.first(where: { $0.key == "events" })?.value
        else {
            if let parsed = try? JSON.parse(line), parsed["ok"]?.bool == false {
                throw ExportFailure(Exchange.describeFailure(parsed), Exchange.refusedExitCode)
            }
            throw ExportFailure(
                "error: the daemon sent an unexpected audit answer: \(line.prefix(300))", Exchange.connectionExitCode)
        }
        let events = try RawJSON.elements(bytes, of: eventsRange)
        let next = raw("next_after_seq").flatMap { Int(String(decoding: $0, as: UTF8.self)) }
        if let next, next <= after {
            throw ExportFailure(
                "error: the daemon's next_after_seq \(next) does not move past \(after)", Exchange.connectionExitCode)
        }
        return (bytes, events, next)
    }

    /// The `seq` of a raw event, read without decoding the rest.
    static func seq(of event: ArraySlice<UInt8>) -> Int? {
        let bytes = Array(event)
        guard let members = try? RawJSON.members(bytes), let range = members.first(where: { $0.key == "seq" })?.value
        else { return nil }
        return Int(String(decoding: bytes[range], as: UTF8.self))
    }
}

/// Why an export stops, reported once the progress bar is cleared.
struct ExportFailure: Error {
    var message: String
    var exitCode: Int32
    init(_ message: String, _ exitCode: Int32) {
        self.message = message
        self.exitCode = exitCode
    }
}

/// One export format over a sink. NDJSON and JSON copy each event's bytes as received.
struct RecordWriter {
    let format: ExportFormat
    let sink: ExportSink
    private(set) var count = 0

    init(format: ExportFormat, sink: ExportSink) {
        self.format = format
        self.sink = sink
    }

    func begin() throws {
        switch format {
        case .ndjson: break
        case .json: try sink.write("[")
        case .csv: try sink.write(AuditExport.csvColumns.map(Self.csvField).joined(separator: ",") + ",event\r\n")
        }
    }

    mutating func event(_ bytes: ArraySlice<UInt8>) throws {
        switch format {
        case .ndjson:
            try sink.write(bytes)
            try sink.write("\n")
        case .json:
            try sink.write(count == 0 ? "\n" : ",\n")
            try sink.write(bytes)
        case .csv:
            let text = String(decoding: bytes, as: UTF8.self)
            let event = try JSON.parse(text)
            var row = AuditExport.csvColumns.map { column -> String in
                guard let value = event[column] else { return "" }
                switch value {
                case .null: return ""
                case .string(let s): return Self.csvField(s)
                default: return Self.csvField(value.line)
                }
            }
            row.append(Self.csvField(text))
            try sink.write(row.joined(separator: ",") + "\r\n")
        }
        count += 1
    }

    func end() throws {
        if format == .json { try sink.write(count == 0 ? "]\n" : "\n]\n") }
    }

    /// RFC 4180: a field holding a comma, a quote or a line break is quoted, its quotes doubled.
    static func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

/// Buffered output to standard output or to a file. A file is written under a temporary name
/// beside it and renamed into place on `commit`, so a failed export leaves no half file and an
/// existing one untouched.
final class ExportSink {
    static let bufferBytes = 1 << 20
    private let fd: Int32
    private let path: String?
    private let temporaryPath: String?
    private var buffer: [UInt8] = []
    private var done = false

    init(path: String?) throws {
        self.path = path
        guard let path else {
            fd = STDOUT_FILENO
            temporaryPath = nil
            return
        }
        let temporary = path + ".partial-\(getpid())"
        let opened = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard opened >= 0 else {
            throw ExportFailure(
                "error: cannot write \(path): \(String(cString: strerror(errno)))", Exchange.refusedExitCode)
        }
        fd = opened
        temporaryPath = temporary
        buffer.reserveCapacity(Self.bufferBytes)
    }

    func write(_ text: String) throws { try write(ArraySlice(text.utf8)) }

    func write(_ bytes: ArraySlice<UInt8>) throws {
        buffer.append(contentsOf: bytes)
        if buffer.count >= Self.bufferBytes { try flush() }
    }

    private func flush() throws {
        var offset = 0
        while offset < buffer.count {
            let written = buffer.withUnsafeBytes { raw in
                Foundation.write(fd, raw.baseAddress! + offset, raw.count - offset)
            }
            if written < 0 {
                if errno == EINTR { continue }
                throw ExportFailure(
                    "error: cannot write \(path ?? "standard output"): \(String(cString: strerror(errno)))",
                    Exchange.refusedExitCode)
            }
            offset += written
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes; for a file, syncs it and moves it into place.
    func commit() throws {
        try flush()
        done = true
        guard let path, let temporaryPath else { return }
        guard fsync(fd) == 0, close(fd) == 0, rename(temporaryPath, path) == 0 else {
            let why = String(cString: strerror(errno))
            unlink(temporaryPath)
            throw ExportFailure("error: cannot finish \(path): \(why)", Exchange.refusedExitCode)
        }
    }

    /// The export failed: drop the temporary file.
    func abandon() {
        guard !done, let temporaryPath else { return }
        done = true
        close(fd)
        unlink(temporaryPath)
    }
}

/// `[########----------------] 12,345 events  seq 45,000/100,000  8,123 events/s` on stderr,
/// redrawn at most ten times a second, only on a terminal.
struct ExportProgress {
    let enabled: Bool
    let started: Date
    private var lastDraw = Date.distantPast
    private var drawn = false

    init(enabled: Bool, started: Date) {
        self.enabled = enabled
        self.started = started
    }

    mutating func update(events: Int, seq: Int, head: Int) {
        guard enabled else { return }
        let now = Date()
        guard now.timeIntervalSince(lastDraw) >= 0.1 else { return }
        lastDraw = now
        let width = 24
        let filled = head > 0 ? min(width, seq * width / head) : width
        let elapsed = max(now.timeIntervalSince(started), 0.001)
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let text =
            "[\(bar)] \(Renderer.grouped(events)) events  seq \(Renderer.grouped(seq))/\(Renderer.grouped(head))  "
            + "\(Renderer.grouped(Int(Double(events) / elapsed))) events/s"
        FileHandle.standardError.write(Data(("\r\u{1B}[K" + text).utf8))
        drawn = true
    }

    /// Erases the bar before a message or the summary.
    mutating func clear() {
        guard drawn else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
        drawn = false
    }
}
