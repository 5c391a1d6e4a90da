// swift-tools-version:6.1
import PackageDescription

/// Settings every Swift target shares, as in the root package (STYLE 2.1).
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        // Named explicitly: a path dependency is otherwise named after its folder ("main" here).
        .package(name: "sluice", path: "../"),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        // The embedded database a user would otherwise pick, as the anchor for log appends (benchmark only).
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    ],
    targets: [
        // The executables' shared command line: --help, ranges, unknown options (exit status 2).
        .target(name: "BenchmarkCommandLine", path: "Sources/BenchmarkCommandLine", swiftSettings: swiftSettings),
        // The fixture batch and the Foundation anchor (Codable structs), shared by both executables.
        .target(
            name: "DecodeAnchor",
            dependencies: [.product(name: "SluiceTools", package: "sluice")],
            path: "Sources/DecodeAnchor",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "DecodeBenchmarks",
            dependencies: [
                "DecodeAnchor",
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "SluiceTools", package: "sluice"),
            ],
            path: "Benchmarks/DecodeBenchmarks",
            swiftSettings: swiftSettings,
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // TriggerIndex.match over the generated stream: wall clock and mallocCountTotal (must be 0).
        .executableTarget(
            name: "TriggerBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "SluiceTools", package: "sluice"),
            ],
            path: "Benchmarks/TriggerBenchmarks",
            swiftSettings: swiftSettings,
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // The HTTP/1.1 codec (issue 6): encode and parse costs per request, malloc counts (must be 0).
        .executableTarget(
            name: "HTTPCodecBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "SluiceCore", package: "sluice"),
            ],
            path: "Benchmarks/HTTPCodecBenchmarks",
            swiftSettings: swiftSettings,
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // Plain executable (no plugin): times Sluice and JSONDecoder side by side in one process and
        // prints bytes, MB/s and the median ratio. `swift run -c release decode-ratio`.
        .executableTarget(
            name: "decode-ratio",
            dependencies: [
                "BenchmarkCommandLine", "DecodeAnchor",
                .product(name: "Sluice", package: "sluice"),
            ],
            path: "Sources/decode-ratio",
            swiftSettings: swiftSettings
        ),
        // Log append vs raw LZ4 on the same bytes. `swift run -c release log-ratio`.
        .executableTarget(
            name: "log-ratio",
            dependencies: ["BenchmarkCommandLine", .product(name: "SluiceTools", package: "sluice")],
            path: "Sources/log-ratio",
            swiftSettings: swiftSettings
        ),
        // Log append vs SQLite (WAL, batched transactions), scans, and interval-fsync latency.
        // `swift run -c release log-bench`.
        .executableTarget(
            name: "log-bench",
            dependencies: [
                "BenchmarkCommandLine",
                .product(name: "SluiceTools", package: "sluice"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            path: "Sources/log-bench",
            swiftSettings: swiftSettings
        ),
        // Indexed event queries (issue 18): point, time-range and branch queries over 1 M and 10 M events vs SQLite
        // (B-tree indexes on the same columns) and a full scan. `swift run -c release query-bench`.
        .executableTarget(
            name: "query-bench",
            dependencies: [
                "BenchmarkCommandLine",
                .product(name: "SluiceTools", package: "sluice"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            path: "Sources/query-bench",
            swiftSettings: swiftSettings
        ),
        // The ring anchor: Concurrency Kit's ck_ring (Debian libck-dev, header-only use), benchmark only.
        .target(name: "CKRingBaseline", path: "Sources/CKRingBaseline", cSettings: [.unsafeFlags(["-O2"])]),
        // Sluice's rings vs ck_ring, 1P1C and 2P1C. `swift run -c release ring-ratio`.
        .executableTarget(
            name: "ring-ratio",
            dependencies: ["BenchmarkCommandLine", "CKRingBaseline", .product(name: "Sluice", package: "sluice")],
            path: "Sources/ring-ratio",
            swiftSettings: swiftSettings
        ),
        // Signed webhook delivery to nginx on loopback, against wrk on the same nginx and bytes, on io_uring
        // and epoll. `swift run -c release delivery-bench`.
        .executableTarget(
            name: "delivery-bench",
            dependencies: ["BenchmarkCommandLine", "LoopbackPeers", .product(name: "SluiceTools", package: "sluice")],
            path: "Sources/delivery-bench",
            swiftSettings: swiftSettings
        ),
        // Real peers on loopback for the benchmarks (nginx).
        .target(name: "LoopbackPeers", path: "Sources/LoopbackPeers", swiftSettings: swiftSettings),
        // The full pipeline at saturation vs delivery alone, and latency at half load.
        // `swift run -c release pipeline-bench`.
        .executableTarget(
            name: "pipeline-bench",
            dependencies: [
                "BenchmarkCommandLine",
                "LoopbackPeers", .product(name: "SluiceTools", package: "sluice"),
            ],
            path: "Sources/pipeline-bench",
            swiftSettings: swiftSettings
        ),
        // Workflow dispatch (issue 19): runs/s of `true` and firing -> process start, against a plain
        // posix_spawn loop in the same run. `swift run -c release workflow-bench`.
        .executableTarget(
            name: "workflow-bench",
            dependencies: ["BenchmarkCommandLine", .product(name: "Sluice", package: "sluice")],
            path: "Sources/workflow-bench",
            swiftSettings: swiftSettings
        ),
        // Per-endpoint isolation (issue 15): a healthy webhook's throughput with and without a dead neighbour
        // on the same host, and the dead one's time to dead letter against its schedule.
        // `swift run -c release isolation-bench`.
        .executableTarget(
            name: "isolation-bench",
            dependencies: ["BenchmarkCommandLine", "LoopbackPeers", .product(name: "SluiceTools", package: "sluice")],
            path: "Sources/isolation-bench",
            swiftSettings: swiftSettings
        ),
        // The pipeline at half its saturated rate for 30 minutes with faulty receivers: RSS and p99 per minute.
        // `swift run -c release soak-bench`.
        .executableTarget(
            name: "soak-bench",
            dependencies: ["BenchmarkCommandLine", "LoopbackPeers", .product(name: "SluiceTools", package: "sluice")],
            path: "Sources/soak-bench",
            swiftSettings: swiftSettings
        ),
        // `sluice serve` (issue 17): HTTP ingest against in-process emit, wrk against nginx, durable-reply latency,
        // the GitHub receiver against plain ingest. Needs the `sluice` executable built beside it.
        // `swift build -c release --product sluice && swift run -c release serve-bench`.
        // epoll and timerfd headers for serve-bench's load client (Glibc does not export them).
        .target(name: "CLinuxEvents", path: "Sources/CLinuxEvents"),
        .executableTarget(
            name: "serve-bench",
            dependencies: [
                "BenchmarkCommandLine", "CLinuxEvents", "LoopbackPeers",
                .product(name: "SluiceTools", package: "sluice"),
            ],
            path: "Sources/serve-bench",
            swiftSettings: swiftSettings
        ),
        // Trigger matching: compiled index vs the naive reference matcher. `swift run -c release trigger-ratio`.
        .executableTarget(
            name: "trigger-ratio",
            dependencies: ["BenchmarkCommandLine", .product(name: "SluiceTools", package: "sluice")],
            path: "Sources/trigger-ratio",
            swiftSettings: swiftSettings
        ),
        // Parameter templates vs Python Jinja2 (issue 19). `swift run -c release template-bench`.
        .executableTarget(
            name: "template-bench",
            dependencies: ["BenchmarkCommandLine", .product(name: "SluiceCore", package: "sluice")],
            path: "Sources/template-bench",
            swiftSettings: swiftSettings
        ),
        // C anchors for webhook signing (EVP_MAC loop, EVP_MD_CTX midstates, one-shot HMAC()) and a malloc
        // counter; linked only into sign-ratio.
        .target(
            name: "SignBaseline",
            path: "Sources/SignBaseline",
            linkerSettings: [.linkedLibrary("crypto")]
        ),
        // Batched signing vs the C anchors over the same messages. `swift run -c release sign-ratio`.
        .executableTarget(
            name: "sign-ratio",
            dependencies: ["BenchmarkCommandLine", "SignBaseline", .product(name: "Sluice", package: "sluice")],
            path: "Sources/sign-ratio",
            swiftSettings: swiftSettings
        ),
    ]
)
