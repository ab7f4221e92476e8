// swift-tools-version:6.1
import PackageDescription

// The throughput benchmark, kept out of the test suite: its own package so that `swift test` in the root never
// builds or runs it. It uses the root package only for its `LMDB` wrapper (the raw-LMDB baseline); the daemon is
// driven as a separate process over its Unix socket with plain POSIX sockets and threads. The rollback benchmark
// (issue 13) drives the engine in process on the in-memory storage: a product of its own, so that the throughput
// benchmark's build does not grow by the engine's dependencies.
let package = Package(
    name: "tokenledger-bench",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "TokenLedger", path: "../.."),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        .executableTarget(
            name: "tokenledger-bench",
            dependencies: [.product(name: "LMDB", package: "TokenLedger")]
        ),
        .executableTarget(
            name: "tokenledger-rollback-bench",
            dependencies: [
                .product(name: "LedgerCore", package: "TokenLedger"),
                .product(name: "LedgerJSON", package: "TokenLedger"),
                .product(name: "LedgerProtocol", package: "TokenLedger"),
                .product(name: "LedgerStore", package: "TokenLedger"),
                .product(name: "LedgerMemoryStore", package: "TokenLedger"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ]
)
