import Foundation
import SluiceFuzzTargets
import SluiceTestSupport
import XCTest

/// Every fuzz target, run in the ordinary test suite: on its seeds, on every input the
/// fuzzer ever found a crash with (`Fuzz/regressions/TARGET/`), and on a fixed set of
/// mutations of its seeds. A crash here is a crash the server would have had.
final class FuzzTargetTests: XCTestCase {
    static let regressions = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Fuzz/regressions").standardizedFileURL.path

    func testEveryTargetHasSeedsAndAUniqueName() {
        XCTAssertEqual(Set(FuzzTarget.all.map(\.name)).count, FuzzTarget.all.count)
        for target in FuzzTarget.all where !["mp4", "mp3"].contains(target.name) {
            XCTAssertFalse(target.seeds().isEmpty, "\(target.name) has no seeds")
        }
    }

    /// The RTMPE seeds are whole handshakes of each type (6, 8, 9) that replay to the end.
    func testRTMPESeedsCompleteTheirHandshakes() {
        XCTAssertEqual(FuzzTarget.named("rtmpe-handshake")?.seeds().count, 3)
    }

    func testSavedCrashInputsNoLongerCrash() throws {
        let folders = (try? FileManager.default.contentsOfDirectory(atPath: Self.regressions)) ?? []
        for folder in folders.sorted() {
            let target = try XCTUnwrap(FuzzTarget.named(folder), "Fuzz/regressions/\(folder) names no target")
            let files = try FileManager.default.contentsOfDirectory(atPath: Self.regressions + "/" + folder).sorted()
            for file in files {
                let data = try XCTUnwrap(FileManager.default.contents(atPath: Self.regressions + "/" + folder + "/" + file))
                target.run(Array(data))
            }
        }
    }

    func testSeedsAndTheirMutationsPass() {
        var random = SplitMix(seed: 0x5EED)
        for target in FuzzTarget.all {
            let seeds = target.seeds() + [[], [0], [0xFF], [UInt8](repeating: 0xFF, count: 64)]
            for seed in seeds {
                target.run(seed)
                for _ in 0..<60 {
                    target.run(Self.mutate(seed, &random))
                }
            }
        }
    }

    /// libFuzzer's simplest mutations: flip, overwrite with an extreme byte, cut, repeat.
    static func mutate(_ input: [UInt8], _ random: inout SplitMix) -> [UInt8] {
        var bytes = input
        for _ in 0..<(1 + Int(random.next() % 4)) {
            guard !bytes.isEmpty else { return [UInt8(truncatingIfNeeded: random.next())] }
            let index = Int(random.next() % UInt64(bytes.count))
            switch random.next() % 5 {
            case 0: bytes[index] ^= UInt8(1 << (random.next() % 8))
            case 1: bytes[index] = [0x00, 0xFF, 0x7F, 0x80][Int(random.next() % 4)]
            case 2: bytes.removeSubrange(index...)
            case 3: bytes.insert(contentsOf: bytes[index..<min(bytes.count, index + 16)], at: index)
            default: bytes.replaceSubrange(index..<min(bytes.count, index + 4), with: [0xFF, 0xFF, 0xFF, 0xFF])
            }
        }
        return bytes
    }
}
