// swift-tools-version:6.2
import PackageDescription

/// libFuzzer targets for Sluice's parsers of outside bytes (docs/fuzzing.md).
///
/// A separate package, like `Benchmarks/`: each target is an executable whose entry point is
/// `LLVMFuzzerTestOneInput` and whose `main` comes from libFuzzer, so it links only when built with
/// `--sanitize=fuzzer`. In the root package, a plain `swift build` would try (and fail) to link them.
/// Build and run with `scripts/fuzz`; the targets see only the root package's public API.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("ExistentialAny"),
    .treatAllWarnings(as: .error),
]

let package = Package(
    name: "sluice-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        // Named explicitly: a path dependency is otherwise named after its folder.
        .package(name: "sluice", path: "../")
    ],
    targets: [
        // Input slicing, invariant checks and the scratch file the file-reading targets use.
        .target(name: "FuzzSupport", swiftSettings: swiftSettings),
        // JSON Lines splitting (fuzz-chosen chunks) and event decoding, then the wire views of what decoded.
        .executableTarget(
            name: "fuzz-event",
            dependencies: ["FuzzSupport", .product(name: "SluiceCore", package: "sluice")],
            swiftSettings: swiftSettings
        ),
        // GitHub deliveries (headers + body) to events; the event built must decode.
        .executableTarget(
            name: "fuzz-github",
            dependencies: ["FuzzSupport", .product(name: "SluiceCore", package: "sluice")],
            swiftSettings: swiftSettings
        ),
        // The HTTP/1.1 response (and request) parser, whole and in fuzz-chosen pieces: same result.
        .executableTarget(
            name: "fuzz-http",
            dependencies: ["FuzzSupport", .product(name: "SluiceCore", package: "sluice")],
            swiftSettings: swiftSettings
        ),
        // Segment files: header, frames, LZ4, records (in memory and through SegmentReader).
        .executableTarget(
            name: "fuzz-segment",
            dependencies: [
                "FuzzSupport", .product(name: "SluiceCore", package: "sluice"),
                .product(name: "Sluice", package: "sluice"),
            ],
            swiftSettings: swiftSettings
        ),
        // Pipeline configuration files, YAML and JSON.
        .executableTarget(
            name: "fuzz-config",
            dependencies: ["FuzzSupport", .product(name: "Sluice", package: "sluice")],
            swiftSettings: swiftSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
