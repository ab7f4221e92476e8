import ArgumentParser
import LedgerCore
import LedgerProtocol

// Money ops (admin): credits, resets and reversals. PROTOCOL §5 "Money".

struct Topup: LedgerCommand {
    static let op = "topup"
    static let configuration = CommandConfiguration(
        commandName: "topup",
        abstract: "Credit bought tokens to a team at once; they never expire.",
        discussion: """
            Repays any overdraft first. Does not change the next cycle's allowance.

            Example:
              tokenledger topup --team acme --amount 500000 --package 500k \\
                  --key order-8812
            """)

    @Option(help: ArgumentHelp("Team id.", valueName: "team")) var team: String
    @Option(help: ArgumentHelp("Tokens to credit.", valueName: "n"), transform: Parse.integer) var amount: Int
    @Option(help: ArgumentHelp("A free label for what was bought, e.g. 500k.", valueName: "label")) var package: String?
    @OptionGroup var idempotency: RequiredKeyOption

    @OptionGroup var global: GlobalOptions

    func fields() throws -> RequestFields {
        var fields = RequestFields()
        fields.add("team", team)
        fields.add("amount", amount)
        fields.add("package", package)
        fields.add("key", idempotency.resolve())
        return fields
    }
}

struct BonusGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bonus",
        abstract: "Grant bonus tokens (gifts, referrals, events, loyalty).",
        discussion: """
            Op bonus.grant.

            Example:
              tokenledger bonus grant --team acme --amount 20000 --reason gift
            """,
        subcommands: [BonusGrant.self])
}

struct BonusGrant: LedgerCommand {
    static let op = "bonus.grant"
    static let configuration = CommandConfiguration(
        commandName: "grant",
        abstract: "Grant bonus tokens to a team, optionally expiring.",
        discussion: """
            Repays any overdraft first. Bonus tokens are spent before the allowance when they \
            expire sooner; an unspent remainder lapses at --expires-at.

            Example:
              tokenledger bonus grant --team acme --amount 20000 --reason referral \\
                  --expires-at 2026-12-31T00:00:00.000Z
            """)

    @Option(help: ArgumentHelp("Team id.", valueName: "team")) var team: String
    @Option(help: ArgumentHelp("Tokens to grant.", valueName: "n"), transform: Parse.integer) var amount: Int
    @Option(help: ArgumentHelp("Why the bonus is granted.", valueName: "reason")) var reason: BonusReason
    @Option(
        help: ArgumentHelp(
            "When the bonus lapses, RFC 3339 UTC (e.g. 2026-12-31T00:00:00.000Z); must be in the future.",
            valueName: "time"))
    var expiresAt: String?
    @OptionGroup var idempotency: RequiredKeyOption

    @OptionGroup var global: GlobalOptions

    func fields() throws -> RequestFields {
        var fields = RequestFields()
        fields.add("team", team)
        fields.add("amount", amount)
        fields.add("reason", reason.rawValue)
        fields.add("expires_at", expiresAt)
        fields.add("key", idempotency.resolve())
        return fields
    }
}

struct Reset: LedgerCommand {
    static let op = "reset"
    static let configuration = CommandConfiguration(
        commandName: "reset",
        abstract: "Reset consumed-today by hand, for a team and all its users or for one user.",
        discussion: """
            Appends a daily_reset event with manual:true.

            Examples:
              tokenledger reset --team acme
              tokenledger reset --team acme --user ana
            """)

    @Option(help: ArgumentHelp("Team id.", valueName: "team")) var team: String
    @Option(help: ArgumentHelp("Reset only this user (default: the team and all its users).", valueName: "user"))
    var user: String?
    @OptionGroup var idempotency: OptionalKeyOption

    @OptionGroup var global: GlobalOptions

    func fields() throws -> RequestFields {
        var fields = RequestFields()
        fields.add("team", team)
        fields.add("user", user)
        fields.add("key", idempotency.key)
        return fields
    }
}

struct Reverse: LedgerCommand {
    static let op = "reverse"
    static let configuration = CommandConfiguration(
        commandName: "reverse",
        abstract: "Undo all or part of a consumption, committed hold, top-up or bonus.",
        discussion: """
            A consumption's draws go back to their buckets while still spendable. An event can \
            be reversed once. Find the seq with `tokenledger audit`.

            Examples:
              tokenledger reverse --seq 1042 --reason "duplicate charge"
              tokenledger reverse --seq 1042 --reason "partial refund" --amount 300
            """)

    @Option(help: ArgumentHelp("Seq of the event to reverse.", valueName: "seq"), transform: Parse.integer) var seq: Int
    @Option(help: ArgumentHelp("Why, recorded in the reversed event.", valueName: "text")) var reason: String
    @Option(help: ArgumentHelp("Tokens to reverse (default: all of it).", valueName: "n"), transform: Parse.integer)
    var amount: Int?
    @OptionGroup var idempotency: RequiredKeyOption

    @OptionGroup var global: GlobalOptions

    func fields() throws -> RequestFields {
        var fields = RequestFields()
        fields.add("seq", seq)
        fields.add("reason", reason)
        fields.add("amount", amount)
        fields.add("key", idempotency.resolve())
        return fields
    }
}
