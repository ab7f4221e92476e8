import Foundation
import LedgerTestKit
import Testing

/// `ops/`: the systemd unit and its settings file must only use flags the daemon has, and
/// every variable of `ExecStart` must have a default in the unit and a line in the example.
@Suite("Ops files")
struct OpsTests {
    static let unitPath = packageRoot + "/ops/tokenledgerd.service"
    static let environmentPath = packageRoot + "/ops/tokenledgerd.env"

    /// The unit's `ExecStart` with its `\` continuations joined.
    static func execStart() throws -> String {
        let unit = readFile(unitPath).replacingOccurrences(of: "\\\n", with: " ")
        let lines = unit.split(separator: "\n").filter { $0.hasPrefix("ExecStart=") }
        guard lines.count == 1 else { throw LedgerTestError("\(unitPath): \(lines.count) ExecStart lines") }
        return String(lines[0].dropFirst("ExecStart=".count))
    }

    /// `--long-flag` words in `text`.
    static func flags(_ text: String) -> Set<String> {
        Set(
            text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "=" || $0 == "," })
                .filter { $0.hasPrefix("--") && $0.count > 2 }.map(String.init))
    }

    /// `KEY=value` assignments of an EnvironmentFile (or of the unit's `Environment=` lines).
    static func assignments(_ lines: [Substring]) -> [String: String] {
        var out: [String: String] = [:]
        for line in lines where !line.hasPrefix("#") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            out[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        return out
    }

    @Test func unitExecStart_usesOnlyFlagsTheDaemonLists() throws {
        let help = try runProcess(DaemonProcess.binaryPath, ["--help"])
        #expect(help.termination == .exited(0))
        let listed = Self.flags(help.stdout)
        #expect(listed.contains("--data") && listed.contains("--socket"), "parsed the help: \(listed)")
        let used = Self.flags(try Self.execStart())
            .union(
                Self.flags(
                    Self.assignments(readFile(Self.environmentPath).split(separator: "\n")).values
                        .joined(separator: " ")))
        #expect(!used.isEmpty)
        let unknown = used.subtracting(listed)
        #expect(unknown.isEmpty, "flags tokenledgerd --help does not list: \(unknown.sorted())")
    }

    @Test func everyExecStartVariable_hasADefaultInTheUnitAndALineInTheExample() throws {
        let exec = try Self.execStart()
        let pattern = try NSRegularExpression(pattern: #"\$\{?([A-Z_]+)\}?"#)
        let range = NSRange(exec.startIndex..., in: exec)
        let variables = Set(
            pattern.matches(in: exec, range: range).compactMap {
                Range($0.range(at: 1), in: exec).map { String(exec[$0]) }
            })
        #expect(variables.count >= 10, "\(variables)")
        let unitDefaults = Self.assignments(
            readFile(Self.unitPath).split(separator: "\n").filter { $0.hasPrefix("Environment=") }
                .map { $0.dropFirst("Environment=".count) })
        let example = Self.assignments(readFile(Self.environmentPath).split(separator: "\n"))
        #expect(variables == Set(unitDefaults.keys), "defaults in the unit: \(unitDefaults.keys.sorted())")
        #expect(variables == Set(example.keys), "lines in tokenledgerd.env: \(example.keys.sorted())")
        // The example matches the unit's defaults, except the roles it shows how to map.
        for (key, value) in unitDefaults where key != "TOKENLEDGER_ROLES" {
            #expect(example[key] == value, "\(key): unit \(value), example \(example[key] ?? "none")")
        }
    }

    @Test func unit_hasTheSandboxTheRunbookPromises() {
        let unit = readFile(Self.unitPath)
        for line in [
            "User=tokenledger", "ProtectSystem=strict", "StateDirectory=tokenledger", "RuntimeDirectory=tokenledger",
            "NoNewPrivileges=yes", "PrivateTmp=yes", "ProtectHome=yes",
            // IP only for /metrics, and only on the loopback.
            "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6", "IPAddressDeny=any", "IPAddressAllow=localhost",
            "KillSignal=SIGTERM", "Restart=on-failure",
        ] {
            #expect(unit.contains("\n" + line + "\n"), "\(line) in \(Self.unitPath)")
        }
        #expect(!unit.contains("PrivateUsers="), "roles need the peers' real uids")
    }
}
