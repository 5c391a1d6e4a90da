// swift-tools-version:6.2
import PackageDescription

/// Settings every Swift target shares (swift-nio's pattern: one list, applied everywhere).
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("ExistentialAny"),
    .treatAllWarnings(as: .error),
]

/// Modules that touch raw pointers or C also make every unsafe site explicit.
let strictSettings: [SwiftSetting] = swiftSettings + [.strictMemorySafety()]

let package = Package(
    name: "sluice",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Sluice", targets: ["Sluice"]),
        .library(name: "SluiceCore", targets: ["SluiceCore"]),
        // Load-test and demo tools (sink, fixtures, replayer, report, demo, benchmark hooks): for the `sluice`
        // command and the Benchmarks package; embedders of `Sluice` do not link it (nor HdrHistogram).
        .library(name: "SluiceTools", targets: ["SluiceTools"]),
        .executable(name: "sluice", targets: ["sluice"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // YAML configuration files (the `Sluice` facade only; SluiceCore stays dependency-free).
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        // HDR latency histograms for the load-test report (`SluiceTools` only).
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        // `sluice serve` (the SluiceServer module and the executable only; never Sluice or SluiceCore).
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        // GraphQL at `/graphql` and its WebSocket subscriptions (the SluiceServer module only).
        .package(url: "https://github.com/GraphQLSwift/GraphQL", from: "4.3.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        // Hummingbird's own transport (already in its graph): the connection limit's channel handler and the
        // server's TLS (`server.tls`).
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.24.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    ],
    targets: [
        // System libraries. Each is a module map + shim.h; `providers` tells SwiftPM which Debian
        // package supplies the headers (the scripts install them: liburing-dev libssl-dev liblz4-dev).
        .systemLibrary(name: "CLibURing", pkgConfig: "liburing", providers: [.apt(["liburing-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        // Header-only CPU intrinsics (SSE4.2 crc32, cpuid); nothing to link.
        .systemLibrary(name: "CSluiceIntrinsics"),

        // Pure Swift: no C, no Foundation, no I/O.
        .target(name: "SluiceCore", swiftSettings: strictSettings),

        // System calls: the one `SystemCallError`, the one EINTR-retrying funnel, stop signals (Glibc only).
        .target(name: "SluiceSystem", swiftSettings: strictSettings),

        // The segment log (issue 3); for now the hardware CRC-32C path.
        .target(
            name: "SluiceStorage",
            dependencies: ["SluiceCore", "SluiceSystem", "CSluiceIntrinsics", "CLZ4"],
            swiftSettings: strictSettings
        ),

        // Batched HMAC-SHA256 webhook signing and signature verification (issue 5); libcrypto only.
        .target(name: "SluiceCrypto", dependencies: ["SluiceCore", "COpenSSL"], swiftSettings: strictSettings),

        // Delivery I/O (issue 6): io_uring and epoll loops, the HTTP/1.1 client and server, TLS.
        .target(
            name: "SluiceIO",
            dependencies: ["SluiceCore", "SluiceSystem", "SluiceCrypto", "CLibURing", "COpenSSL"],
            swiftSettings: strictSettings
        ),

        // The facade embedders use, and the file-level plumbing the CLI calls.
        .target(
            name: "Sluice",
            dependencies: [
                "SluiceCore", "SluiceSystem", "SluiceStorage", "SluiceCrypto", "SluiceIO",
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strictSettings
        ),

        // What load testing and demos need and embedders don't: the sink, the fixture generator, the replayer,
        // the load-test report (HdrHistogram), the demo job, the benchmark hooks. Nothing in the product
        // depends on it but the `sluice` executable.
        .target(
            name: "SluiceTools",
            dependencies: [
                "Sluice", "SluiceCore", "SluiceSystem", "SluiceStorage", "SluiceCrypto", "SluiceIO", "CLZ4",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            swiftSettings: strictSettings
        ),

        // `sluice serve` (issue 17): the HTTP surfaces on Hummingbird 2; depends on the `Sluice` facade only.
        .target(
            name: "SluiceServer",
            dependencies: [
                "Sluice",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "GraphQL", package: "GraphQL"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "OrderedCollections", package: "swift-collections"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),

        // Argument parsing and output only.
        .executableTarget(
            name: "sluice",
            dependencies: [
                "Sluice", "SluiceTools", "SluiceServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),

        .target(
            name: "SluiceTestSupport",
            dependencies: ["SluiceCore"],
            path: "Tests/SluiceTestSupport",
            swiftSettings: swiftSettings
        ),
        // The deterministic simulation of the whole pipeline (docs/simulation.md): the pure decisions of
        // SluiceCore driven on a simulated clock, disk and receivers; run by SluiceSimulationTests.
        .target(
            name: "SluiceSimulation",
            dependencies: ["SluiceCore", "SluiceCrypto"],
            path: "Tests/SluiceSimulation",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SluiceSimulationTests",
            dependencies: ["SluiceSimulation"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SluiceCoreTests",
            // SluiceTools for the fixture generator, the event streams some property tests run on.
            dependencies: ["SluiceCore", "SluiceTools", "SluiceTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SluiceStorageTests",
            dependencies: ["SluiceStorage", "SluiceTools", "SluiceTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SluiceCryptoTests",
            dependencies: ["SluiceCrypto", "SluiceTestSupport", "COpenSSL"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SluiceTests",
            dependencies: ["Sluice", "SluiceTools", "SluiceIO", "SluiceCrypto", "SluiceTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SluiceServerTests",
            dependencies: ["SluiceServer", "Sluice", "SluiceTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SluiceIOTests",
            dependencies: ["SluiceIO", "SluiceSystem", "SluiceTools", "SluiceTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SluiceToolsTests",
            dependencies: ["SluiceTools", "SluiceTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SystemLibraryTests",
            dependencies: ["CLibURing", "COpenSSL", "CLZ4"],
            swiftSettings: strictSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
