// swift-tools-version:6.1
import PackageDescription

// The throughput benchmark, kept out of the test suite: its own package so that `swift test` in the root never
// builds or runs it. It uses the root package only for its `LMDB` wrapper (the raw-LMDB baseline); the daemon is
// driven as a separate process over its Unix socket with plain POSIX sockets and threads.
let package = Package(
    name: "tokenledger-bench",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "TokenLedger", path: "../.."),
    ],
    targets: [
        .executableTarget(
            name: "tokenledger-bench",
            dependencies: [.product(name: "LMDB", package: "TokenLedger")]
        ),
    ]
)
