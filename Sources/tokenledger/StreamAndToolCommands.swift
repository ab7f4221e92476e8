import ArgumentParser
import Foundation
import LedgerClient
import LedgerJSON

// The event stream, the manual clock, and the raw escape hatch.

struct Tail: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tail",
        abstract: "Follow the event log live (op subscribe): one line per event, until interrupted.",
        discussion: """
            Prints the log from after --after-seq (default 0: the whole log), then each new \
            event as it is committed. Human lines are aligned: `seq  ts  type  team  figures`; \
            with --json each line is the daemon's {"event":{...}} line as received, after the \
            {"subscribed":true} answer. A slow reader never slows the daemon: it reads the log \
            from disk at its own pace. Stop with Ctrl-C (exit 0). Exits 2 if the daemon closes \
            the stream (e.g. it stopped).

            Examples:
              tokenledger tail --team acme --type consumed --type budget_alert
              tokenledger tail --after-seq 1040 --json
            """,
        aliases: ["subscribe"])

    static let op = "subscribe"

    @Option(
        help: ArgumentHelp("Start after this seq (default 0: from the first event).", valueName: "seq"),
        transform: Parse.integer)
    var afterSeq: Int?
    @Option(help: ArgumentHelp("Only this team's events.", valueName: "team")) var team: String?
    @Option(
        name: [.customLong("type"), .customLong("types")],
        help: ArgumentHelp(
            "Only these event types: repeat --type, or comma-separate (e.g. consumed,budget_alert).",
            valueName: "type"))
    var types: [String] = []

    @OptionGroup var global: GlobalOptions

    func fields() -> RequestFields {
        var fields = RequestFields()
        fields.add("after_seq", afterSeq)
        fields.add("team", team)
        fields.add("types", Parse.list(types))
        return fields
    }

    func run() throws {
        // Ctrl-C is how a tail ends: exit 0 at once (every line was written unbuffered).
        signal(SIGINT) { _ in _exit(0) }
        let request = Exchange.requestLine(op: Self.op, fields: fields(), id: global.idValue)
        let client = try Exchange.connect(global)
        defer { client.close() }
        _ = try Exchange.interpret(try Exchange.ask(client, request, global: global), global: global)
        let output = FileHandle.standardOutput
        let renderer = Renderer.forStandardOutput()
        do {
            // Events may be far apart: wait for them without a limit.
            try client.setTimeout(seconds: 0)
            while let line = try client.readLine() {
                if line.isEmpty { continue }
                if global.json {
                    output.write(Data((line + "\n").utf8))
                    continue
                }
                let parsed = try? JSON.parse(line)
                if let event = parsed?["event"], event.members != nil {
                    output.write(Data((Self.eventLine(event, renderer) + "\n").utf8))
                } else if let parsed, parsed["ok"]?.bool == false {
                    printError(Exchange.describeFailure(parsed))
                    throw ExitCode(Exchange.refusedExitCode)
                } else {
                    output.write(Data((line + "\n").utf8))
                }
            }
        } catch let error as LineClientError {
            throw Exchange.connectionFailure(error, global: global)
        }
        printError("tail: the daemon at \(global.socketPath) closed the stream")
        throw ExitCode(Exchange.connectionExitCode)
    }

    /// Left out of the human line: shown in the columns, or bookkeeping an auditor reads in --json.
    static let hiddenFields: Set<String> = ["seq", "ts", "type", "team", "v", "hash", "key", "draws", "restored"]
    /// Shown first, in this order, when present; the rest follow in the event's order.
    static let mainFields = [
        "user", "pod", "task", "model", "operation", "cost", "amount", "allowance", "input_tokens", "output_tokens",
        "overdraft", "released", "percent", "used", "budget",
    ]
    static let typeWidth = 15
    static let teamWidth = 12

    /// `    1043  2026-11-21T14:32:05.123Z  consumed        acme          user=ana  model=gpt-4o  cost=2,000`.
    static func eventLine(_ event: JSON, _ renderer: Renderer) -> String {
        func pad(_ text: String, _ width: Int) -> String {
            text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
        }
        let seq = event["seq"].map { $0.line } ?? "?"
        var parts: [String] = []
        parts.append(String(repeating: " ", count: max(0, 8 - seq.count)) + seq)
        parts.append(renderer.paint(event["ts"]?.string ?? "-", .dim))
        parts.append(renderer.paint(pad(event["type"]?.string ?? "?", typeWidth), .strong))
        parts.append(pad(event["team"]?.string ?? "-", teamWidth))
        let members = event.members ?? []
        let ordered =
            mainFields.compactMap { key in members.first { $0.key == key } }
            + members.filter { !hiddenFields.contains($0.key) && !mainFields.contains($0.key) }
        for member in ordered where !hiddenFields.contains(member.key) {
            // Zero overdraft and lapsed, and record:false, are the usual case: noise on every line.
            if ["overdraft", "lapsed"].contains(member.key), member.value.int == 0 { continue }
            if member.key == "record", member.value.bool == false { continue }
            var text: String
            switch member.value {
            case .string(let value):
                text =
                    value.contains(where: { $0 == " " || $0 == "=" || $0 == "\"" }) || value.isEmpty
                    ? JSON.string(value).line : value
            case .array, .object:
                text = member.value.line
            default:
                text = renderer.scalarCell(key: member.key, member.value).text
            }
            if member.key == "status" { text = renderer.paint(text, Renderer.tone(status: text)) }
            parts.append("\(member.key)=\(text)")
        }
        return parts.joined(separator: "  ")
    }
}

struct ClockGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clock",
        abstract: "Move a manual clock (daemon started with --clock manual) for tests and demos.",
        discussion: """
            Ops clock.set and clock.advance; only a daemon started with --clock manual has them.

            Examples:
              tokenledger clock advance --seconds 86400
              tokenledger clock set --at 2026-12-01T00:00:00.000Z
            """,
        subcommands: [ClockSet.self, ClockAdvance.self])
}

struct ClockSet: LedgerCommand {
    static let op = "clock.set"
    static let configuration = CommandConfiguration(
        commandName: "set",
        abstract: "Set the manual clock to a time; due resets, cycles and expiries are appended on the way.",
        discussion: """
            Time never goes back. Answers the new time and the number of events appended.

            Example:
              tokenledger clock set --at 2026-12-01T00:00:00.000Z
            """)

    @Option(help: ArgumentHelp("The new time, RFC 3339 UTC with milliseconds.", valueName: "time")) var at: String

    @OptionGroup var global: GlobalOptions

    func fields() throws -> RequestFields {
        var fields = RequestFields()
        fields.add("at", at)
        return fields
    }
}

struct ClockAdvance: LedgerCommand {
    static let op = "clock.advance"
    static let configuration = CommandConfiguration(
        commandName: "advance",
        abstract: "Move the manual clock forward by some seconds, running the scheduler on the way.",
        discussion: """
            Example:
              tokenledger clock advance --seconds 86400
            """)

    @Option(help: ArgumentHelp("Seconds to move forward.", valueName: "seconds"), transform: Parse.integer) var seconds:
        Int

    @OptionGroup var global: GlobalOptions

    func fields() throws -> RequestFields {
        var fields = RequestFields()
        fields.add("seconds", seconds)
        return fields
    }
}

struct Raw: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "raw",
        abstract: "Send one line exactly as given and print the response line (a debugging escape hatch).",
        discussion: """
            The line is not checked, so malformed requests reach the daemon as typed. Output is \
            always the raw response; exits 1 when it says ok:false. --id is ignored (put one in \
            the line). With --follow, keeps printing lines until the daemon closes.

            Examples:
              tokenledger raw '{"id":1,"op":"ping"}'
              tokenledger raw '{"op":"subscribe","after_seq":0}' --follow
            """)

    @Argument(help: ArgumentHelp("The request line (a \\n is added).", valueName: "json-line")) var line: String
    @Flag(help: "Keep printing response lines until the daemon closes the connection (for subscribe).")
    var follow = false

    @OptionGroup var global: GlobalOptions

    func run() throws {
        let client = try Exchange.connect(global)
        defer { client.close() }
        let response = try Exchange.ask(client, line, global: global)
        emit([response])
        if !follow {
            if let parsed = try? JSON.parse(response), parsed["ok"]?.bool == false {
                throw ExitCode(Exchange.refusedExitCode)
            }
            return
        }
        let output = FileHandle.standardOutput
        do {
            try client.setTimeout(seconds: 0)
            while let next = try client.readLine() {
                output.write(Data((next + "\n").utf8))
            }
        } catch let error as LineClientError {
            throw Exchange.connectionFailure(error, global: global)
        }
    }
}
