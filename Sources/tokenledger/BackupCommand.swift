import ArgumentParser
import Foundation
import LedgerJSON

struct Backup: LedgerCommand {
    static let op = "backup"
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Copy the log to a new directory while the daemon serves (admin).",
        discussion: """
            The daemon writes a consistent, compacted copy of its log (LMDB's compacting copy \
            of data.mdb, one snapshot: every event up to a seq, none after) while writes go on. \
            It writes under a hidden temporary name beside DEST, syncs it, and renames it to \
            DEST at the end, so a DEST that exists is a whole backup.

            DEST must not exist, or be an empty directory; its parent must exist and be \
            writable by the daemon's user (under systemd: a ReadWritePaths= directory), and it \
            must lie outside the data directory. A relative DEST is taken from your working \
            directory; the daemon is sent the absolute path.

            The backup holds the log only (events, idempotency keys, head). The read models are \
            folded from it when a daemon starts on it. To restore: stop the daemon, put the \
            backup's data.mdb in an empty data directory, start tokenledgerd on it, and run \
            `tokenledger verify`: it answers the seq and head hash printed here.

            Prints the seq and head hash copied, the size and the time taken; --json prints \
            {"ok":true,"dest":..,"seq":N,"head_hash":..,"bytes":B,"log_bytes":L,"seconds":S}. \
            Waits for the copy however long it takes, unless --timeout is given.

            Examples:
              tokenledger backup /var/backups/tokenledger/$(date +%F)
              tokenledger backup --json /srv/backup/ledger-nightly
            """)

    @Argument(help: ArgumentHelp("New or empty directory to hold the backup.", valueName: "dest"))
    var dest: String

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if dest.isEmpty { throw ValidationError("DEST needs a path.") }
    }

    func fields() throws -> RequestFields {
        var fields = RequestFields()
        fields.add("dest", Self.absolute(dest))
        return fields
    }

    /// The daemon refuses relative paths (its working directory is not ours) and `.`/`..`
    /// parts: resolve them here.
    static func absolute(_ path: String) -> String {
        let base = URL(fileURLWithPath: FileManager.default.currentDirectoryPath, isDirectory: true)
        let url = path.hasPrefix("/") ? URL(fileURLWithPath: path) : base.appendingPathComponent(path)
        return url.standardized.path
    }

    func run() throws {
        var command = self
        // A backup of a large log takes longer than the default answer timeout; wait for it
        // unless --timeout was given.
        if !CommandLine.arguments.contains(where: { $0 == "--timeout" || $0.hasPrefix("--timeout=") }) {
            command.global.timeout = 0
        }
        try command.exchange()
    }

    func render(_ answer: [JSONMember], with renderer: Renderer) -> [String] {
        let response = JSON.object(JSONObject(answer))
        guard let dest = response["dest"]?.string, let seq = response["seq"]?.int,
            let hash = response["head_hash"]?.string, let bytes = response["bytes"]?.int,
            case .number(let secondsText)? = response["seconds"]
        else { return renderer.objectLines(answer) }
        let seconds = Double(secondsText.lexeme) ?? 0
        var size = Self.size(bytes)
        if let log = response["log_bytes"]?.int, log > 0 { size += " (log \(Self.size(log)) in use)" }
        return [
            "backed up seq \(Renderer.grouped(seq)) to \(dest)",
            "  head_hash: \(hash)",
            "  size:      \(size)",
            "  took:      " + String(format: "%.3f", seconds) + " s",
        ]
    }

    /// `12.3 MiB`, `512 KiB`, `800 B`.
    static func size(_ bytes: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes) B" : String(format: "%.1f", value) + " " + units[unit]
    }
}
