import ArgumentParser
import Foundation
import LedgerJSON
import LedgerProjections
import LedgerStore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

struct Rebuild: LedgerCommand {
    static let op = "rebuild"
    static let configuration = CommandConfiguration(
        commandName: "rebuild",
        abstract: "Rebuild read models from the log: through the running daemon, or offline with --data.",
        discussion: """
            Online (the default, admin): the daemon folds the log into a shadow of each read \
            model while it serves, then swaps it in, so readers never see a half-built view.

            Offline (--data DIR): for a stopped daemon. Takes the data directory's lock first \
            (refused while tokenledgerd runs on DIR: rebuild online then), folds the log into \
            each read model, and marks the views clean so the next start serves them at once. \
            Progress (percent, events/s, ETA per read model) goes to stderr when it is a \
            terminal.

            Both print what was rebuilt, from how many events, in how many seconds; --json \
            prints {"ok":true,"rebuilt":[...],"events":N,"seconds":S}. Read models: daily, \
            pods, reports, audit_teams (as in `tokenledger stats`).

            Examples:
              tokenledger rebuild
              tokenledger rebuild --projection reports
              tokenledger rebuild --data /var/lib/tokenledger --projection pods
            """)

    @Option(help: ArgumentHelp("Only this read model (names as in `tokenledger stats`).", valueName: "name"))
    var projection: String?

    @Option(
        help: ArgumentHelp(
            "Rebuild offline in this stopped daemon's data directory (tokenledgerd's --data).", valueName: "dir"))
    var data: String?

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard let data else { return }
        if data.isEmpty { throw ValidationError("--data needs a directory.") }
        if global.socket != nil {
            throw ValidationError(
                "--data rebuilds a stopped daemon's data offline; --socket asks a running daemon. Give one of them.")
        }
        if let projection, ProjectionName(rawValue: projection) == nil {
            throw ValidationError("--projection must be one of \(Self.known).")
        }
    }

    static var known: String { ProjectionName.allCases.map(\.rawValue).joined(separator: ", ") }

    func fields() throws -> RequestFields {
        var fields = RequestFields()
        fields.add("projection", projection)
        return fields
    }

    func run() throws {
        guard let data else { return try exchange() }
        let names = projection.flatMap(ProjectionName.init(rawValue:)).map { [$0] } ?? []
        try OfflineRebuild(directory: data, names: names, json: global.json).run()
    }

    func render(_ answer: [JSONMember], with renderer: Renderer) -> [String] {
        let response = JSON.object(JSONObject(answer))
        guard let rebuilt = response["rebuilt"]?.array, let events = response["events"]?.int,
            case .number(let seconds)? = response["seconds"]
        else { return renderer.objectLines(answer) }
        return [
            Self.summary(rebuilt: rebuilt.compactMap(\.string), events: events, seconds: Double(seconds.lexeme) ?? 0)
        ]
    }

    /// `rebuilt daily, pods: 1,204,332 events in 2.104 s (572,401 events/s)`.
    static func summary(rebuilt: [String], events: Int, seconds: Double) -> String {
        var text = "rebuilt \(rebuilt.joined(separator: ", ")): \(Renderer.grouped(events)) event"
        text += events == 1 ? "" : "s"
        text += " in " + String(format: "%.3f", seconds) + " s"
        if seconds > 0 { text += " (\(Renderer.grouped(Int(Double(events) / seconds))) events/s)" }
        return text
    }
}

/// `tokenledger rebuild --data DIR`: the daemon's lock, then `ProjectionHub.rebuildOffline`.
struct OfflineRebuild {
    var directory: String
    /// Empty: every read model.
    var names: [ProjectionName]
    var json: Bool

    func run() throws {
        let files = FileManager.default
        var isDirectory: ObjCBool = false
        guard files.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw failure("no data directory at \(directory)")
        }
        // The lock would create a missing directory and LMDB an empty log: check for a ledger first.
        guard files.fileExists(atPath: directory + "/data.mdb") else {
            throw failure(
                "\(directory) holds no ledger (no data.mdb); give the directory tokenledgerd runs with --data")
        }
        let lock: DataDirectoryLock
        do {
            lock = try DataDirectoryLock(directory: directory)
        } catch StorageError.locked {
            throw failure(
                "tokenledgerd is running on \(directory); run `tokenledger rebuild` without --data to rebuild online")
        } catch {
            throw failure("\(error)")
        }
        try withExtendedLifetime(lock) { try rebuild() }
    }

    private func rebuild() throws {
        let log: LMDBLogStorage
        let store: ViewStore
        do {
            log = try LMDBLogStorage(directory: directory)
            store = try ViewStore(directory: directory + "/views")
        } catch {
            throw failure("cannot open the ledger in \(directory): \(error)")
        }
        defer { log.env.close() }
        if let why = store.discarded, !names.isEmpty {
            printError("note: the views on disk were started over (\(why)); tokenledgerd refolds the others at start")
        }
        // One pass over the log folds every read model named: one progress line for them all.
        let list = names.isEmpty ? ProjectionName.allCases : names
        let label = list.map(\.rawValue).joined(separator: "+")
        let meter = RebuildProgress(label: label)
        let started = Date()
        let events: UInt64
        do {
            events = try ProjectionHub.rebuildOffline(names, store: store, log: log) { meter.update(label, $0, $1) }
        } catch {
            meter.abandon()
            throw failure("the rebuild failed: \(error)")
        }
        meter.finish()
        let seconds = Date().timeIntervalSince(started)
        let rebuilt = list.map(\.rawValue)
        if json {
            let answer = JSON.object([
                "ok": .bool(true),
                "rebuilt": .array(rebuilt.map(JSON.string)),
                "events": .int(Int(events)),
                "seconds": .number(JSONNumber(lexeme: String(format: "%.3f", seconds))),
            ])
            emit([answer.line])
        } else {
            emit([Rebuild.summary(rebuilt: rebuilt, events: Int(events), seconds: seconds)])
        }
    }

    private func failure(_ message: String) -> ExitCode {
        printError(Renderer.forStandardError().paint("error:", .bad) + " " + message)
        return ExitCode(Exchange.refusedExitCode)
    }
}

/// A progress line per read model on stderr, redrawn in place, only when stderr is a terminal:
/// a gauge, percent, events/s and ETA; then a done line per read model.
final class RebuildProgress {
    static let redrawSecondsMin = 0.1
    static let gaugeWidthMin = 10
    static let gaugeWidthMax = 40

    let enabled: Bool
    let renderer: Renderer
    let nameWidth: Int
    private var current: String?
    private var started = Date()
    private var lastDraw = Date.distantPast
    private var drawn = false
    private var plan: RebuildPlan?

    init(label: String, enabled: Bool = isatty(STDERR_FILENO) != 0) {
        self.enabled = enabled
        renderer = Renderer.forStandardError()
        nameWidth = label.count
    }

    /// `seq` of `head` folded into `name` (called after each chunk of the log).
    func update(_ name: String, _ seq: UInt64, _ head: UInt64) {
        guard enabled else { return }
        let now = Date()
        if name != current {
            current = name
            plan = nil
            if drawn { clear() }
        }
        let elapsed = now.timeIntervalSince(started)
        if seq >= head {
            draw(name, seq, head, elapsed: elapsed, done: true)
            FileHandle.standardError.write(Data("\n".utf8))
            drawn = false
            started = now
            lastDraw = .distantPast
            return
        }
        guard now.timeIntervalSince(lastDraw) >= Self.redrawSecondsMin else { return }
        lastDraw = now
        draw(name, seq, head, elapsed: elapsed, done: false)
    }

    func finish() {
        if enabled && drawn { clear() }
    }

    func abandon() {
        if enabled && drawn { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    private func clear() {
        FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8))
        drawn = false
    }

    /// What a read model's lines show, fixed for the whole read model so that the gauge does
    /// not jump as figures grow: sized for the widest figures (the head's count), it fits
    /// `$COLUMNS` (a wrapped line would break the redraw); on a narrow terminal the count goes
    /// first, then the rate, then the ETA.
    struct RebuildPlan {
        var gaugeWidth: Int
        var figures: Int

        init(nameWidth: Int, head: UInt64, columns: Int = Terminal.columns) {
            let count = Renderer.grouped(Int(head))
            // Percent, ETA, rate (up to ten times the head per second), count.
            let widths = [
                "100.0%".count, "ETA 0:00:00".count, count.count + 1 + " events/s".count, 2 * count.count + 8,
            ]
            var shown = widths.count
            func free() -> Int { columns - 1 - nameWidth - 2 - widths.prefix(shown).reduce(0) { $0 + $1 + 2 } }
            while free() < RebuildProgress.gaugeWidthMin && shown > 1 { shown -= 1 }
            figures = shown
            gaugeWidth = min(RebuildProgress.gaugeWidthMax, max(RebuildProgress.gaugeWidthMin, free()))
        }
    }

    private func draw(_ name: String, _ seq: UInt64, _ head: UInt64, elapsed: Double, done: Bool) {
        if plan == nil { plan = RebuildPlan(nameWidth: nameWidth, head: head) }
        let plan = plan!
        let rate = elapsed > 0 ? Double(seq) / elapsed : 0
        var figures = [Percentages.share(Int(seq), of: Int(max(head, 1)))]
        if done {
            // The done line says what was done (it has no ETA), then the rate if it fits.
            figures.append("\(Renderer.grouped(Int(seq))) events in " + String(format: "%.2f s", elapsed))
            if plan.figures > 2, rate > 0 { figures.append("\(Renderer.grouped(Int(rate))) events/s") }
        } else {
            if plan.figures > 1, rate > 0 { figures.append("ETA " + Self.clock(Double(head - seq) / rate)) }
            if plan.figures > 2, rate > 0 { figures.append("\(Renderer.grouped(Int(rate))) events/s") }
            if plan.figures > 3 {
                figures.append("\(Renderer.grouped(Int(seq)))/\(Renderer.grouped(Int(head))) events")
            }
        }
        let gauge = Bars.gauge(Int(seq), of: Int(max(head, 1)), width: plan.gaugeWidth)
        let parts =
            [
                name.padding(toLength: nameWidth, withPad: " ", startingAt: 0),
                renderer.paint(gauge, done ? .good : .plain),
            ]
            + figures
        FileHandle.standardError.write(Data(("\r\u{1B}[2K" + parts.joined(separator: "  ")).utf8))
        drawn = true
    }

    /// `0:07`, `12:30`, `1:02:03`.
    static func clock(_ seconds: Double) -> String {
        let total = Int(seconds.rounded(.up))
        let (h, m, s) = (total / 3600, total / 60 % 60, total % 60)
        return h > 0 ? String(format: "%d:%02d:%02d", h, m, s) : String(format: "%d:%02d", m, s)
    }
}
