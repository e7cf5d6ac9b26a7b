import Foundation
import SluiceFuzzTargets

/// The fuzz driver. Built by `scripts/fuzz` with `-sanitize=fuzzer,address`, it is a
/// libFuzzer binary whose target is named by SLUICE_FUZZ_TARGET; built as part of the
/// package, it lists the targets, writes their seeds and replays saved inputs.

/// Writes each seed of `target` into `folder` as `seed-N`.
func writeSeeds(of target: FuzzTarget, into folder: String) throws {
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    for (index, seed) in target.seeds().enumerated() {
        try Data(seed).write(to: URL(fileURLWithPath: folder + "/seed-\(index)"))
    }
}

#if SLUICE_FUZZING
nonisolated(unsafe) var selected: FuzzTarget?

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    let name = ProcessInfo.processInfo.environment["SLUICE_FUZZ_TARGET"] ?? ""
    if name == "list" {
        for target in FuzzTarget.all { print(target.name) }
        exit(0)
    }
    guard let target = FuzzTarget.named(name) else {
        FileHandle.standardError.write(Data("SLUICE_FUZZ_TARGET must name one of: \(FuzzTarget.all.map(\.name).joined(separator: ", "))\n".utf8))
        exit(64)
    }
    if let folder = ProcessInfo.processInfo.environment["SLUICE_FUZZ_SEEDS"] {
        do {
            try writeSeeds(of: target, into: folder)
        } catch {
            FileHandle.standardError.write(Data("cannot write seeds into \(folder): \(error)\n".utf8))
            exit(1)
        }
    }
    selected = target
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    selected?.run(bytes)
    return 0
}
#else
@main
struct FuzzDriver {
    static let usage = """
        usage: sluice-fuzz list
               sluice-fuzz seed TARGET FOLDER
               sluice-fuzz replay TARGET FILE...

        The targets run under libFuzzer when built by scripts/fuzz; this build lists
        them, writes their seed inputs and replays saved inputs (a crash ends it).
        """

    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        switch (arguments.first, arguments.count) {
        case ("list"?, 1):
            let width = (FuzzTarget.all.map(\.name.count).max() ?? 0) + 2
            for target in FuzzTarget.all { print(target.name.padding(toLength: width, withPad: " ", startingAt: 0) + target.summary) }
        case ("seed"?, 3):
            guard let target = FuzzTarget.named(arguments[1]) else { fail("no target named \(arguments[1])") }
            do { try writeSeeds(of: target, into: arguments[2]) } catch { fail("\(error)") }
        case ("replay"?, 3...):
            guard let target = FuzzTarget.named(arguments[1]) else { fail("no target named \(arguments[1])") }
            for path in arguments.dropFirst(2) {
                guard let data = FileManager.default.contents(atPath: path) else { fail("cannot read \(path)") }
                target.run(Array(data))
                print("\(target.name): \(path) passed")
            }
        default:
            fail(usage, status: 64)
        }
    }

    static func fail(_ message: String, status: Int32 = 1) -> Never {
        FileHandle.standardError.write(Data((message + "\n").utf8))
        exit(status)
    }
}
#endif
