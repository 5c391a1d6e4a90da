// swift-tools-version:6.2
// The ring and wait-strategy suites under ThreadSanitizer (`scripts/test`), in a package of their own so
// that the TSan build compiles only what they use (SluiceCore and the Sluice facade), not every test target
// and the server's dependencies. The sources are symbolic links to the suites in the main test targets.
import PackageDescription

let package = Package(
    name: "sluice-tsan",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "sluice", path: "../..")],
    targets: [
        .target(
            name: "SluiceTestSupport",
            dependencies: [.product(name: "SluiceCore", package: "sluice")],
            path: "Support"
        ),
        .testTarget(
            name: "RingTSanTests",
            dependencies: [
                .product(name: "SluiceCore", package: "sluice"), .product(name: "Sluice", package: "sluice"),
                "SluiceTestSupport",
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
