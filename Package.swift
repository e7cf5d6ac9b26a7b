// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Sluice",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "sluice", targets: ["sluice"]),
        .executable(name: "sluice-transcode", targets: ["sluice-transcode"]),
        .library(name: "SluiceMedia", targets: ["SluiceMedia"]),
        .library(name: "SluiceRTMP", targets: ["SluiceRTMP"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "5.0.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/CoreOffice/XMLCoder.git", from: "0.18.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.8.0"),
        .package(url: "https://github.com/attaswift/BigInt.git", from: "6.0.0"),
    ],
    targets: [
        // FFmpeg's libraries (libavformat, libavcodec, libswscale, libswresample, libavutil).
        .systemLibrary(
            name: "CFFmpeg",
            pkgConfig: "libavformat libavcodec libswscale libswresample libavutil",
            providers: [.apt(["libavformat-dev", "libavcodec-dev", "libswscale-dev", "libswresample-dev", "libavutil-dev"])]
        ),
        // libxml2, for the S3 API's request bodies: Foundation's XMLParser leaks memory on
        // every malformed document, and traps on some.
        .systemLibrary(name: "CLibXML2", pkgConfig: "libxml-2.0", providers: [.apt(["libxml2-dev"])]),
        // Request documents from outside (S3's, the control API's) parsed by libxml2 into a
        // small tree: Foundation's XMLParser traps and leaks on malformed input.
        .target(name: "SluiceXML", dependencies: ["CLibXML2"]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // Containers and AMF: pure Swift, no sockets, no libav.
        .target(name: "SluiceMedia"),
        // What every listener shares: connection caps, rate-limited limit logs, the HTTP
        // request limits with answers to malformed requests, and the one HTTP server core
        // (connection loop, replies, Range and conditionals, graceful shutdown).
        .target(
            name: "SluiceHTTP",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // YAML from files people write (presets, job files, settings), read so that no
        // file can crash the reader.
        .target(name: "SluiceYAML", dependencies: [.product(name: "Yams", package: "Yams")]),
        // Buckets and objects: metadata in SQLite (GRDB), bodies on disk; ACLs; the
        // S3-compatible HTTP API in front of them; or the objects kept on an external
        // S3-compatible service (async-http-client, Signature V4).
        .target(
            name: "SluiceStore",
            dependencies: [
                "SluiceMedia",
                "SluiceHTTP",
                "SluiceXML",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        // The transcoding pipeline on libav, and the presets that plan its ladders.
        .target(
            name: "SluiceTranscode",
            dependencies: [
                "CFFmpeg",
                "SluiceMedia",
                "SluiceYAML",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // Jobs: the queue (SQLite), the runner, the watch folder, webhooks. Encodes run
        // in `sluice-transcode` processes, so this links no libav.
        .target(
            name: "SluiceJobs",
            dependencies: [
                "SluiceStore",
                "SluiceYAML",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        // The RTMP protocol and video-on-demand sessions on SwiftNIO.
        .target(
            name: "SluiceRTMP",
            dependencies: [
                "SluiceMedia",
                "SluiceHTTP",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "BigInt", package: "BigInt"),
            ]
        ),
        // The CloudFront-compatible control API's model: distributions in SQLite, their
        // XML in both API versions (read from the libxml2 tree, written by XMLCoder).
        .target(
            name: "SluiceControl",
            dependencies: [
                "SluiceXML",
                "CZlib",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "XMLCoder", package: "XMLCoder"),
            ]
        ),
        // What both executables share about being a command: settings, the data folder,
        // signals, failures that are not usage errors.
        .target(
            name: "SluiceCommandLine",
            dependencies: [
                "SluiceYAML",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The server and the commands people type; `encode` and `presets` hand over to
        // sluice-transcode. Links no libav: the server never needs it to play a file.
        .executableTarget(
            name: "sluice",
            dependencies: [
                "SluiceMedia",
                "SluiceHTTP",
                "SluiceYAML",
                "SluiceRTMP",
                "SluiceStore",
                "SluiceJobs",
                "SluiceCommandLine",
                "SluiceControl",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            resources: [.copy("Resources/sample.flv")]
        ),
        // The libav half: `encode`, `presets`, and the job runner's per-job `worker`.
        .executableTarget(
            name: "sluice-transcode",
            dependencies: [
                "SluiceMedia",
                "SluiceTranscode",
                "SluiceJobs",
                "SluiceCommandLine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The project's own RTMP test client, test media and tool helpers, shared by the
        // test targets of every issue.
        .target(
            name: "SluiceTestSupport",
            dependencies: [
                "SluiceMedia",
                "SluiceRTMP",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Tests/SluiceTestSupport"
        ),
        // Fuzz targets: every parser of outside bytes, driven as the server drives it.
        // `scripts/fuzz` builds `sluice-fuzz` with -sanitize=fuzzer,address (a libFuzzer
        // binary); the package build gives a tool that lists targets and replays inputs.
        .target(
            name: "SluiceFuzzTargets",
            dependencies: [
                "SluiceMedia",
                "SluiceRTMP",
                "SluiceStore",
                "SluiceJobs",
                "SluiceTranscode",
                "SluiceHTTP",
                "SluiceControl",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Fuzz/Targets"
        ),
        .executableTarget(name: "sluice-fuzz", dependencies: ["SluiceFuzzTargets"], path: "Fuzz/Driver"),
        .testTarget(name: "SluiceFuzzTests", dependencies: ["SluiceFuzzTargets", "SluiceTestSupport"]),
        .testTarget(
            name: "SluiceHTTPTests",
            dependencies: [
                "SluiceHTTP", "SluiceRTMP", "SluiceStore", "SluiceTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["Clients"]
        ),
        .testTarget(name: "SluiceMediaTests", dependencies: ["SluiceMedia", "SluiceTestSupport"]),
        .testTarget(name: "SluiceControlTests", dependencies: ["SluiceControl"]),
        .testTarget(name: "SluiceCommandLineTests", dependencies: ["SluiceCommandLine"]),
        .testTarget(
            name: "SluiceStoreTests",
            dependencies: [
                "SluiceStore",
                "SluiceHTTP",
                "SluiceMedia",
                "SluiceTestSupport",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["Clients"]
        ),
        .testTarget(
            name: "SluiceJobsTests",
            dependencies: ["SluiceJobs", "SluiceYAML", "SluiceTestSupport", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(name: "SluiceTranscodeTests", dependencies: ["SluiceTranscode", "SluiceMedia", "SluiceTestSupport"]),
        // Runs the built `sluice`; depending on it makes `swift build --build-tests` build it.
        .testTarget(name: "SluiceCLITests", dependencies: ["sluice", "sluice-transcode", "SluiceTestSupport"]),
        .testTarget(
            name: "SluiceRTMPTests",
            dependencies: [
                "SluiceMedia",
                "SluiceRTMP",
                "SluiceTestSupport",
                "SluiceFuzzTargets",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ]
)
