// swift-tools-version:6.1
import PackageDescription

// tools/fuzz sets TOKENLEDGER_FUZZ_COVERAGE: libFuzzer's coverage then goes into this package's
// targets only (with ASan on everything from `--sanitize=address`). With NIO and Crypto
// instrumented too, libFuzzer scanned ten times the counters after each input (259,164 bytes
// against 25,751), a quarter of the run's time (perf).
let fuzzCoverage: [SwiftSetting] =
    Context.environment["TOKENLEDGER_FUZZ_COVERAGE"] != nil ? [.unsafeFlags(["-sanitize=fuzzer"])] : []

// Targets are split by what they may do: a C module map for LMDB, a safe wrapper over it,
// a pure core (no I/O), the wire protocol, the store with its single writer, the NIO server,
// and two executables that only wire things together.
let package = Package(
    name: "TokenLedger",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "tokenledgerd", targets: ["tokenledgerd"]),
        .executable(name: "tokenledger", targets: ["tokenledger"]),
        .library(name: "LMDB", targets: ["LMDB"]),
        .library(name: "LedgerJSON", targets: ["LedgerJSON"]),
        .library(name: "LedgerCore", targets: ["LedgerCore"]),
        .library(name: "LedgerTestKit", targets: ["LedgerTestKit"]),
        // For tools/bench's in-process rollback benchmark (the engine on the in-memory storage).
        .library(name: "LedgerProtocol", targets: ["LedgerProtocol"]),
        .library(name: "LedgerStore", targets: ["LedgerStore"]),
        .library(name: "LedgerMemoryStore", targets: ["LedgerMemoryStore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/onevcat/Rainbow", from: "4.2.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CLMDB",
            pkgConfig: "lmdb",
            providers: [.apt(["liblmdb-dev"])]
        ),
        .target(name: "LMDB", dependencies: ["CLMDB"]),
        // JSON with no dependency: the value type, the parser, RFC 8785 and the fast canonical
        // writer; every module that reads or writes JSON uses this one.
        .target(name: "LedgerJSON", swiftSettings: fuzzCoverage),
        .target(
            name: "LedgerCore",
            dependencies: ["LedgerJSON", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: fuzzCoverage
        ),
        .target(name: "LedgerProtocol", dependencies: ["LedgerCore", "LedgerJSON"], swiftSettings: fuzzCoverage),
        .target(
            name: "LedgerStore",
            dependencies: [
                "LMDB", "LedgerCore", "LedgerJSON",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: fuzzCoverage
        ),
        .target(
            name: "LedgerProjections",
            dependencies: [
                "LMDB", "LedgerCore", "LedgerJSON", "LedgerStore",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: fuzzCoverage
        ),
        .target(
            name: "LedgerServer",
            dependencies: [
                "LedgerStore", "LedgerProtocol", "LedgerCore", "LedgerJSON", "LedgerProjections",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: fuzzCoverage
        ),
        // The Prometheus side: metric names, the registry and the `/metrics` HTTP service. The
        // instrumented modules only take swift-metrics handles, built here.
        .target(
            name: "LedgerMetrics",
            dependencies: [
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "tokenledgerd",
            dependencies: [
                "LedgerServer", "LedgerStore", "LedgerCore", "LedgerJSON", "LedgerProtocol", "LedgerProjections",
                "LedgerMetrics",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "tokenledger",
            dependencies: [
                // LedgerStore and LedgerProjections for `rebuild --data` (offline, daemon stopped).
                "LedgerCore", "LedgerJSON", "LedgerProtocol", "LedgerClient", "LedgerStore", "LedgerProjections",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Rainbow", package: "Rainbow"),
            ]
        ),
        // libFuzzer target (tools/fuzz builds it with -DFUZZING and the fuzzer sanitizer); a plain
        // build gets an executable that replays input files through the same checks.
        .executableTarget(
            name: "tokenledger-fuzz",
            dependencies: [
                "LedgerServer", "LedgerStore", "LedgerMemoryStore", "LedgerProtocol", "LedgerCore", "LedgerJSON",
                "CFuzzDriver",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])] + fuzzCoverage,
            // lld: gold stops with an internal error (in its dwarf reader, while reporting) on this
            // link; the Swift toolchain ships lld.
            linkerSettings: fuzzCoverage.isEmpty ? [] : [.unsafeFlags(["-sanitize=fuzzer", "-use-ld=lld"])]
        ),
        // libFuzzer's LLVMFuzzerRunDriver, declared for the fuzz target's main.
        .target(name: "CFuzzDriver"),
        // A LogStorage in memory with fault injection, for the tests, the writer simulation and the fuzzer.
        .target(
            name: "LedgerMemoryStore", dependencies: ["LedgerStore", "LedgerCore", "LedgerJSON"],
            swiftSettings: fuzzCoverage),
        .target(name: "LedgerClient", dependencies: ["LedgerJSON"]),
        .target(name: "LedgerTestKit", dependencies: ["LedgerClient", "LedgerJSON"]),
        .testTarget(name: "LMDBTests", dependencies: ["LMDB"]),
        .testTarget(name: "LedgerJSONTests", dependencies: ["LedgerJSON"]),
        .testTarget(name: "LedgerCoreTests", dependencies: ["LedgerCore", "LedgerJSON", "LedgerProtocol"]),
        .testTarget(name: "LedgerProtocolTests", dependencies: ["LedgerProtocol", "LedgerCore", "LedgerJSON"]),
        .testTarget(
            name: "LedgerProjectionsTests",
            dependencies: [
                "LedgerProjections", "LedgerStore", "LedgerCore", "LedgerJSON", "LedgerProtocol", "LMDB",
                "LedgerTestKit",
            ]
        ),
        .testTarget(
            name: "LedgerStoreTests",
            dependencies: [
                "LedgerStore", "LedgerCore", "LedgerJSON", "LMDB", "LedgerTestKit", "LedgerProjections",
                "LedgerMemoryStore",
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ]
        ),
        .testTarget(
            name: "LedgerServerTests",
            dependencies: [
                "LedgerServer", "LedgerStore", "LedgerJSON",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "LedgerMetricsTests",
            dependencies: [
                "LedgerMetrics",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(name: "BlackBoxTests", dependencies: ["LedgerTestKit", "LedgerClient", "LedgerJSON"]),
    ]
)
