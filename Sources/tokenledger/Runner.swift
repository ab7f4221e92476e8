import ArgumentParser
import Foundation
import LedgerClient
import LedgerJSON

/// Options every subcommand takes.
struct GlobalOptions: ParsableArguments {
    static let defaultSocketPath = "./tokenledger.sock"

    @Option(
        help: ArgumentHelp(
            "The daemon's Unix socket (default: $TOKENLEDGER_SOCKET, else ./tokenledger.sock).",
            valueName: "path"))
    var socket: String?

    @Flag(help: "Print the daemon's raw response line instead of the human summary.")
    var json = false

    @Option(
        help: ArgumentHelp(
            "A request id for the daemon to echo (sent as a JSON integer when it is one, e.g. 7).", valueName: "id")
    )
    var id: String?

    @Option(
        help: ArgumentHelp("Seconds to wait for an answer before giving up (0 waits forever).", valueName: "seconds"))
    var timeout: Double = 30

    var socketPath: String {
        if let socket { return socket }
        if let fromEnvironment = ProcessInfo.processInfo.environment["TOKENLEDGER_SOCKET"], !fromEnvironment.isEmpty {
            return fromEnvironment
        }
        return Self.defaultSocketPath
    }

    var idValue: JSON? {
        guard let id else { return nil }
        // Only a canonical integer ("7", not "007") is sent as a number, so the echo matches.
        if let number = Int(id), String(number) == id, number >= 0, id.count <= 15 {
            return .int(number)
        }
        return .string(id)
    }

    func validate() throws {
        if let socket, socket.isEmpty { throw ValidationError("--socket needs a path.") }
        if timeout < 0 { throw ValidationError("--timeout must be 0 (wait forever) or more seconds.") }
    }
}

/// `--key` for ops whose key is required (consume, topup, bonus grant, hold, hold commit, reverse).
struct RequiredKeyOption: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Idempotency key (default: a fresh random UUID). Pass the same key to retry safely: a repeat answers duplicate:true instead of applying twice.",
            valueName: "key"))
    var key: String?

    /// The key to send: the given one or a fresh UUID.
    func resolve() -> String { key ?? UUID().uuidString.lowercased() }
}

/// `--key` for setup ops whose key is optional.
struct OptionalKeyOption: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Idempotency key (optional): a retry with the same key and fields is not applied twice.", valueName: "key"))
    var key: String?
}

/// RequestFields of one request, in the order they are sent; a nil value is left out, so only
/// what the user gave is sent.
struct RequestFields {
    private(set) var members: [JSONMember] = []

    mutating func add(_ key: String, _ value: JSON?) {
        guard let value else { return }
        assert(!members.contains { $0.key == key }, "field \(key) added twice")
        members.append((key: key, value: value))
    }

    mutating func add(_ key: String, _ value: String?) { add(key, value.map(JSON.string)) }
    mutating func add(_ key: String, _ value: Int?) { add(key, value.map(JSON.int)) }
    mutating func add(_ key: String, _ values: [String]?) { add(key, values.map { .array($0.map(JSON.string)) }) }
    mutating func add(_ key: String, _ values: [Int]?) { add(key, values.map { .array($0.map(JSON.int)) }) }

    /// A flag is sent only when set.
    mutating func add(_ key: String, flag: Bool) {
        if flag { add(key, .bool(true)) }
    }
}

/// A subcommand that sends one request for one op and renders the answer.
protocol LedgerCommand: ParsableCommand {
    /// The protocol op, e.g. `team.create`.
    static var op: String { get }
    var global: GlobalOptions { get }
    /// The request's fields besides `id` and `op`.
    func fields() throws -> RequestFields
    /// Human rendering of a successful answer (`ok` and `id` already removed).
    func render(_ answer: [JSONMember], with renderer: Renderer) -> [String]
    /// How the answer is printed: `.json` under `--json`, else `.table` unless the command
    /// takes `--format`.
    var outputFormat: OutputFormat { get }
    /// The answer as CSV, for commands that take `--format csv`.
    func csv(_ answer: [JSONMember]) -> String
}

extension LedgerCommand {
    func render(_ answer: [JSONMember], with renderer: Renderer) -> [String] {
        answer.isEmpty ? ["ok"] : renderer.objectLines(answer)
    }

    var outputFormat: OutputFormat { global.json ? .json : .table }

    func csv(_ answer: [JSONMember]) -> String {
        preconditionFailure("\(Self.op) offers no CSV output")
    }

    func run() throws { try exchange() }

    /// Sends the request and prints the answer in the chosen format.
    func exchange() throws {
        let fields = try fields()
        let format = outputFormat
        let request = Exchange.requestLine(op: Self.op, fields: fields, id: global.idValue)
        let client = try Exchange.connect(global)
        defer { client.close() }
        let line = try Exchange.ask(client, request, global: global)
        var answer = try Exchange.interpret(line, raw: format == .json, global: global)
        // Show the idempotency key (often a generated one) so the command can be retried safely.
        if let key = fields.members.first(where: { $0.key == "key" }), !answer.contains(where: { $0.key == "key" }) {
            answer.append(key)
        }
        switch format {
        case .json: break
        case .csv: emitRaw(csv(answer))
        case .table: emit(render(answer, with: Renderer.forStandardOutput()))
        }
    }
}

/// Exit codes: 0 ok, 1 the daemon refused (`ok:false`), 2 the daemon could not be reached
/// or answered something unreadable; 64 (from ArgumentParser) bad command-line input.
enum Exchange {
    static let refusedExitCode: Int32 = 1
    static let connectionExitCode: Int32 = 2

    static func requestLine(op: String, fields: RequestFields, id: JSON?) -> String {
        var members: [JSONMember] = []
        if let id { members.append((key: "id", value: id)) }
        members.append((key: "op", value: .string(op)))
        members += fields.members
        return JSON.object(JSONObject(members)).line
    }

    static func connect(_ global: GlobalOptions) throws -> LineClient {
        do {
            return try LineClient(socketPath: global.socketPath, timeoutSeconds: global.timeout)
        } catch let error as LineClientError {
            throw connectionFailure(error, global: global)
        }
    }

    static func ask(_ client: LineClient, _ request: String, global: GlobalOptions) throws -> String {
        do {
            return try client.request(request)
        } catch let error as LineClientError {
            throw connectionFailure(error, global: global)
        }
    }

    /// Reports a transport failure and yields the exit to throw.
    static func connectionFailure(_ error: LineClientError, global: GlobalOptions) -> ExitCode {
        let style = Renderer.forStandardError()
        printError(style.paint("error:", .bad) + " cannot reach the daemon: \(error.description)")
        switch error.kind {
        case .noSuchSocket, .refused:
            printError(
                "hint: start the daemon with tools/run, or point at its socket with --socket PATH or TOKENLEDGER_SOCKET."
            )
        case .permissionDenied:
            printError("hint: ask an admin to add you to the socket's group (tokenledgerd --socket-group).")
        case .timeout:
            printError("hint: the daemon may be overloaded; raise --timeout or check it with `tokenledger stats`.")
        default:
            break
        }
        return ExitCode(connectionExitCode)
    }

    /// Prints the raw line under `--json` (or when `raw`); on `ok:false` reports the error and
    /// exits 1; returns the answer's fields without `ok` and `id`.
    static func interpret(_ line: String, raw: Bool? = nil, global: GlobalOptions) throws -> [JSONMember] {
        let raw = raw ?? global.json
        if raw { emit([line]) }
        let parsed: JSON
        do {
            parsed = try JSON.parse(line)
        } catch {
            if !raw {
                printError(
                    "error: the daemon at \(global.socketPath) sent something that is not JSON (\(error)): \(line)")
            }
            throw ExitCode(connectionExitCode)
        }
        guard let members = parsed.members else {
            if !raw { printError("error: the daemon sent a JSON value that is not an object: \(line)") }
            throw ExitCode(connectionExitCode)
        }
        if parsed["ok"]?.bool != true {
            if !raw { printError(describeFailure(parsed)) }
            throw ExitCode(refusedExitCode)
        }
        return members.filter { $0.key != "ok" && $0.key != "id" }
    }

    /// `error: <code>: <message> (scope: pool, seq: 12)`.
    static func describeFailure(_ response: JSON) -> String {
        let style = Renderer.forStandardError()
        let error = response["error"]
        let code = error?["code"]?.string ?? "unknown"
        let message = error?["message"]?.string ?? response.line
        var extras: [String] = []
        if let scope = error?["scope"]?.string { extras.append("scope: \(scope)") }
        if let seq = error?["seq"], !seq.isNull { extras.append("seq: \(seq.line)") }
        let suffix = extras.isEmpty ? "" : " (" + extras.joined(separator: ", ") + ")"
        return style.paint("error:", .bad) + " \(code): \(message)\(suffix)"
    }
}
