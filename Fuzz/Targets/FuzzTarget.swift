/// A fuzz target: one parser of bytes from outside, driven the way the server drives it.
///
/// `run` must return normally for every input: a trap (an overflow, an out-of-range
/// index, a failed conversion) or a failed invariant is the bug the fuzzer looks for.
/// Errors the parser throws are the expected outcome for bad input and are ignored.
public struct FuzzTarget: Sendable {
    public let name: String
    public let summary: String
    public let run: @Sendable ([UInt8]) -> Void
    /// Valid inputs to start from, made with the project's own encoders.
    public let seeds: @Sendable () -> [[UInt8]]

    public init(name: String, summary: String, seeds: @escaping @Sendable () -> [[UInt8]] = { [] },
                run: @escaping @Sendable ([UInt8]) -> Void) {
        self.name = name
        self.summary = summary
        self.seeds = seeds
        self.run = run
    }

    /// Every target, in the order `scripts/fuzz` runs them.
    public static let all: [FuzzTarget] = [
        RTMPTargets.handshake, RTMPTargets.rtmpeHandshake, RTMPTargets.rtmptRequest, RTMPTargets.clientHandshake, RTMPTargets.chunks, RTMPTargets.amf0, RTMPTargets.amf3, RTMPTargets.session,
        MediaTargets.flv, MediaTargets.mp4, MediaTargets.mp3,
        S3Targets.request, S3Targets.signatures, S3Targets.awsChunked, S3Targets.xmlBodies, S3Targets.postForm,
        FileTargets.preset, FileTargets.jobFile,
        ControlTargets.configs,
    ]

    public static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }
}

/// A failed invariant: stops the process the way a trap does, so that the fuzzer keeps
/// the input.
func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
             file: StaticString = #fileID, line: UInt = #line) {
    if !condition() { fatalError("invariant failed: \(message())", file: file, line: line) }
}

/// Reads control values (split points, choices) off the front of an input, so that the
/// fuzzer can steer them; an exhausted input gives zeros.
struct FuzzInput {
    private(set) var bytes: ArraySlice<UInt8>

    init(_ bytes: [UInt8]) { self.bytes = bytes[...] }

    mutating func byte() -> UInt8 { bytes.popFirst() ?? 0 }

    mutating func uint16() -> UInt16 { UInt16(byte()) << 8 | UInt16(byte()) }

    mutating func uint32() -> UInt32 { UInt32(uint16()) << 16 | UInt32(uint16()) }

    mutating func take(_ count: Int) -> [UInt8] {
        let piece = bytes.prefix(count)
        bytes = bytes.dropFirst(count)
        return Array(piece)
    }

    var rest: [UInt8] { Array(bytes) }
    var isEmpty: Bool { bytes.isEmpty }
}

/// Splits `bytes` into pieces whose sizes cycle through `sizes` (as reads from a socket
/// arrive), so that every parser is also checked against input cut at any point.
func pieces(_ bytes: [UInt8], sizes: [UInt8]) -> [[UInt8]] {
    let steps = sizes.map { Int($0) + 1 }.filter { $0 > 0 }
    guard !steps.isEmpty else { return [bytes] }
    var result: [[UInt8]] = []
    var index = 0, step = 0
    while index < bytes.count {
        let size = min(steps[step % steps.count] * 7, bytes.count - index)
        result.append(Array(bytes[index..<index + size]))
        index += size
        step += 1
    }
    return result
}
