import ArgumentParser
import Foundation
import LedgerClient

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
    var fields: Fields
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
        let ping = try JSONValue.parse(try Exchange.ask(client, Exchange.requestLine(op: "ping", fields: Fields(), id: nil), global: global))
        if ping["ok"]?.bool == true { head = ping["seq"]?.int ?? 0 }

        let sink = try ExportSink(path: output)
        var finished = false
        defer { if !finished { sink.abandon() } }
        var writer = RecordWriter(format: format, sink: sink)
        var progress = ExportProgress(
            enabled: isatty(STDERR_FILENO) != 0 && (output != nil || isatty(STDOUT_FILENO) == 0), started: started)

        try writer.begin()
        var after = afterSeq
        var firstSeq: Int?
        var lastSeq: Int?
        do {
        while true {
            var page = fields
            page.add("after_seq", after)
            page.add("limit", pageLimit)
            let line = try Exchange.ask(client, Exchange.requestLine(op: "audit", fields: page, id: global.idValue), global: global)
            let bytes = Array(line.utf8)
            let members: [(key: String, value: Range<Int>)]
            do {
                members = try RawJSON.members(bytes)
            } catch {
                progress.clear()
                printError("error: the daemon sent an unreadable audit answer (\(error)): \(line.prefix(300))")
                throw ExitCode(Exchange.connectionExitCode)
            }
            func raw(_ key: String) -> ArraySlice<UInt8>? {
                members.first { $0.key == key }.map { bytes[$0.value] }
            }
            guard raw("ok").map({ Array($0) == Array("true".utf8) }) == true, let eventsRange = members.first(where: { $0.key == "events" })?.value
            else {
                progress.clear()
                if let parsed = try? JSONValue.parse(line), parsed["ok"]?.bool == false {
                    printError(Exchange.describeFailure(parsed))
                    throw ExitCode(Exchange.refusedExitCode)
                }
                printError("error: the daemon sent an unexpected audit answer: \(line.prefix(300))")
                throw ExitCode(Exchange.connectionExitCode)
            }
            let events = try RawJSON.elements(bytes, of: eventsRange)
            for range in events {
                try writer.event(bytes[range])
            }
            if let first = events.first, firstSeq == nil { firstSeq = Self.seq(of: bytes[first]) }
            if let last = events.last { lastSeq = Self.seq(of: bytes[last]) ?? lastSeq }
            let next = raw("next_after_seq").flatMap { Int(String(decoding: $0, as: UTF8.self)) }
            if let next {
                guard next > after else {
                    progress.clear()
                    printError("error: the daemon's next_after_seq \(next) does not move past \(after)")
                    throw ExitCode(Exchange.connectionExitCode)
                }
                after = next
            }
            let reached = next ?? max(head, lastSeq ?? after)
            head = max(head, reached)
            progress.update(events: writer.count, seq: reached, head: head)
            if next == nil { break }
        }
        } catch {
            progress.clear()
            throw error
        }
        try writer.end()
        try sink.commit()
        finished = true
        progress.clear()

        let seconds = Date().timeIntervalSince(started)
        let rate = seconds > 0 ? Int(Double(writer.count) / seconds) : writer.count
        let range = firstSeq.map { "seq \($0)..\(lastSeq ?? $0)" } ?? "no events"
        printError(
            "exported \(Renderer.grouped(writer.count)) event\(writer.count == 1 ? "" : "s") (\(range)) as "
                + "\(format.rawValue) to \(output ?? "standard output") in \(String(format: "%.1f", seconds)) s "
                + "(\(Renderer.grouped(rate)) events/s)")
    }

    /// The `seq` of a raw event, read without decoding the rest.
    static func seq(of event: ArraySlice<UInt8>) -> Int? {
        let bytes = Array(event)
        guard let members = try? RawJSON.members(bytes), let range = members.first(where: { $0.key == "seq" })?.value
        else { return nil }
        return Int(String(decoding: bytes[range], as: UTF8.self))
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
            let event = try JSONValue.parse(text)
            var row = AuditExport.csvColumns.map { column -> String in
                guard let value = event[column] else { return "" }
                switch value {
                case .null: return ""
                case .string(let s): return Self.csvField(s)
                default: return Self.csvField(value.serialized)
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
            printError("error: cannot write \(path): \(String(cString: strerror(errno)))")
            throw ExitCode(Exchange.refusedExitCode)
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
                printError("error: cannot write \(path ?? "standard output"): \(String(cString: strerror(errno)))")
                throw ExitCode(Exchange.refusedExitCode)
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
            printError("error: cannot finish \(path): \(String(cString: strerror(errno)))")
            unlink(temporaryPath)
            throw ExitCode(Exchange.refusedExitCode)
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
