import ArgumentParser

// Usage ops (gateway): pricing, checks, consumption and holds. PROTOCOL §5 "Usage" and §7, §8.

/// Who is spending, where, on what model.
struct SpenderOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Team id.", valueName: "team")) var team: String
    @Option(help: ArgumentHelp("User id (a member of the team).", valueName: "user")) var user: String
    @Option(help: ArgumentHelp("Pod id (optional; its budget then applies).", valueName: "pod")) var pod: String?
    @Option(
        help: ArgumentHelp(
            "Task id (optional): within the pod, or, without --pod, a task of the team.", valueName: "task")) var task:
        String?
    @Option(help: ArgumentHelp("Model id, priced by `price set`.", valueName: "model")) var model: String

    func add(to fields: inout RequestFields) {
        fields.add("team", team)
        fields.add("user", user)
        fields.add("pod", pod)
        fields.add("task", task)
        fields.add("model", model)
    }
}

struct Consume: LedgerCommand {
    static let op = "consume"
    static let configuration = CommandConfiguration(
        commandName: "consume",
        abstract: "Charge usage to a team: price it, check every limit, record it.",
        discussion: """
            The cost comes from the model's price and the usage, unless --cost is given. \
            Limits are checked in order: team budget, pod budget, team daily limit, user daily \
            limit, user allocation, pool. With --record (usage that already happened) nothing \
            refuses; what the pool cannot cover becomes overdraft.

            Examples:
              tokenledger consume --team acme --user ana --model gpt-4o \\
                  --input-tokens 1200 --output-tokens 800
              tokenledger consume --team acme --user ana --pod site \\
                  --model stable-diffusion --params resolution=1024x1024 \\
                  --params steps=50
            """)

    @OptionGroup var spender: SpenderOptions
    @Option(help: ArgumentHelp("A free label of what was generated, e.g. image.", valueName: "label")) var operation:
        String?
    @OptionGroup var usage: UsageOptions
    @Option(
        help: ArgumentHelp("Charge exactly this many tokens instead of pricing the usage.", valueName: "n"),
        transform: Parse.integer)
    var cost: Int?
    @Flag(help: "Record usage that already happened: no limit refuses, shortfall becomes overdraft.")
    var record = false
    @OptionGroup var idempotency: RequiredKeyOption

    @OptionGroup var global: GlobalOptions

    func fields() throws -> RequestFields {
        var fields = RequestFields()
        spender.add(to: &fields)
        fields.add("operation", operation)
        usage.add(to: &fields)
        fields.add("cost", cost)
        fields.add("record", flag: record)
        fields.add("key", idempotency.resolve())
        return fields
    }
}

struct HoldGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hold",
        abstract: "Escrow tokens before a long generation; then `hold commit` or `hold release`.",
        discussion: """
            `tokenledger hold --team ...` places a hold (the same as `hold place`).

            Examples:
              tokenledger hold --team acme --user ana --model veo --params duration=8 \\
                  --ttl-seconds 900
              tokenledger hold commit --hold 1207 --params duration=6
              tokenledger hold release --hold 1207
            """,
        subcommands: [HoldPlace.self, HoldCommit.self, HoldRelease.self],
        defaultSubcommand: HoldPlace.self)
}

struct HoldPlace: LedgerCommand {
    static let op = "hold"
    static let configuration = CommandConfiguration(
        commandName: "place",
        abstract: "Place a hold: escrow tokens for a generation about to run (op hold).",
        discussion: """
            Give either --amount or the usage to price (--input-tokens, --output-tokens, \
            --params), not both. Held tokens count as spent in every check until the hold is \
            committed, released or expires (--ttl-seconds, default 600). The answer's `hold` is \
            what `hold commit` and `hold release` take.

            Examples:
              tokenledger hold --team acme --user ana --model veo --params duration=8 \\
                  --ttl-seconds 900
              tokenledger hold place --team acme --user ana --model gpt-4o --amount 5000
            """)

    @OptionGroup var spender: SpenderOptions
    @Option(help: ArgumentHelp("A free label of what is being generated.", valueName: "label")) var operation: String?
    @Option(help: ArgumentHelp("Tokens to hold (instead of pricing usage).", valueName: "n"), transform: Parse.integer)
    var amount: Int?
    @OptionGroup var usage: UsageOptions
    @Option(
        help: ArgumentHelp("Seconds until an uncommitted hold expires (default 600).", valueName: "seconds"),
        transform: Parse.integer)
    var ttlSeconds: Int?
    @OptionGroup var idempotency: RequiredKeyOption

    @OptionGroup var global: GlobalOptions

    func fields() throws -> RequestFields {
        var fields = RequestFields()
        spender.add(to: &fields)
        fields.add("operation", operation)
        fields.add("amount", amount)
        usage.add(to: &fields)
        fields.add("ttl_seconds", ttlSeconds)
        fields.add("key", idempotency.resolve())
        return fields
    }
}

struct HoldCommit: LedgerCommand {
    static let op = "hold.commit"
    static let configuration = CommandConfiguration(
        commandName: "commit",
        abstract: "Book a hold's actual cost; unused escrow goes back. Never refused by a limit.",
        discussion: """
            Usage is priced at the prices in force when the hold was placed. With neither usage \
            nor --cost the whole hold is booked. Beyond the hold, cost comes from the pool and \
            then overdraft.

            Examples:
              tokenledger hold commit --hold 1207 --input-tokens 900 --output-tokens 2400
              tokenledger hold commit --hold 1207
            """)

    @Option(
        help: ArgumentHelp("The hold: seq of its hold_placed event (from `hold`).", valueName: "seq"),
        transform: Parse.integer)
    var hold: Int
    @OptionGroup var usage: UsageOptions
    @Option(
        help: ArgumentHelp("Book exactly this many tokens instead of pricing usage.", valueName: "n"),
        transform: Parse.integer)
    var cost: Int?
    @OptionGroup var idempotency: RequiredKeyOption

    @OptionGroup var global: GlobalOptions

    func fields() throws -> RequestFields {
        var fields = RequestFields()
        fields.add("hold", hold)
        usage.add(to: &fields)
        fields.add("cost", cost)
        fields.add("key", idempotency.resolve())
        return fields
    }
}

struct HoldRelease: LedgerCommand {
    static let op = "hold.release"
    static let configuration = CommandConfiguration(
        commandName: "release",
        abstract: "Release a hold without charging; its tokens go back to their buckets.",
        discussion: """
            Example:
              tokenledger hold release --hold 1207
            """)

    @Option(help: ArgumentHelp("The hold: seq of its hold_placed event.", valueName: "seq"), transform: Parse.integer)
    var hold: Int
    @OptionGroup var idempotency: OptionalKeyOption

    @OptionGroup var global: GlobalOptions

    func fields() throws -> RequestFields {
        var fields = RequestFields()
        fields.add("hold", hold)
        fields.add("key", idempotency.key)
        return fields
    }
}

struct Estimate: LedgerCommand {
    static let op = "estimate"
    static let configuration = CommandConfiguration(
        commandName: "estimate",
        abstract: "Price usage without charging anything: the cost and how it was computed.",
        discussion: """
            Examples:
              tokenledger estimate --model gpt-4o --input-tokens 1200 --output-tokens 800
              tokenledger estimate --model stable-diffusion \\
                  --params resolution=1024x1024 --params steps=50
            """)

    @Option(help: ArgumentHelp("Model id.", valueName: "model")) var model: String
    @OptionGroup var usage: UsageOptions

    @OptionGroup var global: GlobalOptions

    func fields() throws -> RequestFields {
        var fields = RequestFields()
        fields.add("model", model)
        usage.add(to: &fields)
        return fields
    }
}

struct Check: LedgerCommand {
    static let op = "check"
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Ask whether a consumption would be allowed, without charging it.",
        discussion: """
            Answers allowed true or false; a refusal names the reason and the limit (scope), \
            and the figures the product shows: available, consumed today, daily limit, reset time, \
            status.

            Example:
              tokenledger check --team acme --user ana --model gpt-4o \\
                  --input-tokens 1200 --output-tokens 800
            """)

    @OptionGroup var spender: SpenderOptions
    @OptionGroup var usage: UsageOptions
    @Option(
        help: ArgumentHelp("Check this many tokens instead of pricing usage.", valueName: "n"), transform: Parse.integer
    )
    var cost: Int?

    @OptionGroup var global: GlobalOptions

    func fields() throws -> RequestFields {
        var fields = RequestFields()
        spender.add(to: &fields)
        usage.add(to: &fields)
        fields.add("cost", cost)
        return fields
    }
}
