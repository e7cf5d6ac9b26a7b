/// Reads the picture size out of an H.264 sequence parameter set (ITU-T H.264 7.3.2.1.1),
/// for files whose metadata does not state it.
public enum AVCSequenceParameterSet {
    public struct Dimensions: Equatable, Sendable {
        public var width: Int
        public var height: Int

        public init(width: Int, height: Int) {
            self.width = width
            self.height = height
        }
    }

    /// The dimensions from an FLV AVC sequence-header tag body (frame byte, packet type,
    /// composition time, then an AVCDecoderConfigurationRecord).
    public static func dimensions(fromFLVSequenceHeader payload: [UInt8]) -> Dimensions? {
        guard payload.count > 5 else { return nil }
        return dimensions(fromDecoderConfiguration: Array(payload[5...]))
    }

    /// The dimensions from an AVCDecoderConfigurationRecord (ISO 14496-15 5.2.4.1), whose
    /// first SPS is read.
    public static func dimensions(fromDecoderConfiguration record: [UInt8]) -> Dimensions? {
        var reader = ByteReader(record)
        guard (try? reader.skip(5)) != nil, let count = try? reader.readUInt8(), count & 0x1F > 0,
              let length = try? reader.readUInt16(), let sps = try? reader.readBytes(Int(length))
        else { return nil }
        return dimensions(fromSPS: sps)
    }

    /// The dimensions from one SPS NAL unit (with its NAL header byte).
    public static func dimensions(fromSPS nal: [UInt8]) -> Dimensions? {
        var bits = BitReader(removingEmulationPrevention(nal))
        do {
            try bits.skip(8)  // NAL header
            let profile = try bits.read(8)
            try bits.skip(16)  // constraint flags, level
            _ = try bits.readUE()  // seq_parameter_set_id
            var chromaFormat = 1
            if [100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135].contains(profile) {
                chromaFormat = try bits.readUE()
                if chromaFormat == 3 { try bits.skip(1) }  // separate_colour_plane_flag
                _ = try bits.readUE()  // bit_depth_luma_minus8
                _ = try bits.readUE()  // bit_depth_chroma_minus8
                try bits.skip(1)  // qpprime_y_zero_transform_bypass_flag
                if try bits.read(1) == 1 {  // seq_scaling_matrix_present_flag
                    for list in 0..<(chromaFormat == 3 ? 12 : 8) where try bits.read(1) == 1 {
                        try skipScalingList(&bits, size: list < 6 ? 16 : 64)
                    }
                }
            }
            _ = try bits.readUE()  // log2_max_frame_num_minus4
            let pocType = try bits.readUE()
            if pocType == 0 {
                _ = try bits.readUE()
            } else if pocType == 1 {
                try bits.skip(1)
                _ = try bits.readSE()
                _ = try bits.readSE()
                let cycle = try bits.readUE()
                guard cycle < 256 else { return nil }
                for _ in 0..<cycle { _ = try bits.readSE() }
            }
            _ = try bits.readUE()  // max_num_ref_frames
            try bits.skip(1)  // gaps_in_frame_num_value_allowed_flag
            let widthInMBs = try bits.readUE() + 1
            let heightInMapUnits = try bits.readUE() + 1
            let frameMBsOnly = try bits.read(1)
            if frameMBsOnly == 0 { try bits.skip(1) }  // mb_adaptive_frame_field_flag
            try bits.skip(1)  // direct_8x8_inference_flag
            var cropLeft = 0, cropRight = 0, cropTop = 0, cropBottom = 0
            if try bits.read(1) == 1 {
                cropLeft = try bits.readUE()
                cropRight = try bits.readUE()
                cropTop = try bits.readUE()
                cropBottom = try bits.readUE()
            }
            let cropUnitX = chromaFormat == 0 || chromaFormat == 3 ? 1 : 2
            let cropUnitY = (chromaFormat == 1 ? 2 : 1) * (2 - frameMBsOnly)
            let width = widthInMBs * 16 - (cropLeft + cropRight) * cropUnitX
            let height = (2 - frameMBsOnly) * heightInMapUnits * 16 - (cropTop + cropBottom) * cropUnitY
            guard width > 0, height > 0 else { return nil }
            return Dimensions(width: width, height: height)
        } catch {
            return nil
        }
    }

    private static func skipScalingList(_ bits: inout BitReader, size: Int) throws(MediaFormatError) {
        var last = 8, next = 8
        for _ in 0..<size where next != 0 {
            next = (last + (try bits.readSE()) + 256) % 256
            if next != 0 { last = next }
        }
    }

    static func removingEmulationPrevention(_ bytes: [UInt8]) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var zeros = 0
        for byte in bytes {
            if zeros >= 2 && byte == 3 {
                zeros = 0
                continue
            }
            zeros = byte == 0 ? zeros + 1 : 0
            output.append(byte)
        }
        return output
    }
}

/// Reads bits most-significant first, with Exp-Golomb codes.
struct BitReader {
    let bytes: [UInt8]
    var bitPosition = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func read(_ count: Int) throws(MediaFormatError) -> Int {
        var value = 0
        for _ in 0..<count {
            let byteIndex = bitPosition >> 3
            guard byteIndex < bytes.count else { throw .truncated(needed: 1, available: 0) }
            value = value << 1 | Int(bytes[byteIndex] >> (7 - UInt8(bitPosition & 7)) & 1)
            bitPosition += 1
        }
        return value
    }

    mutating func skip(_ count: Int) throws(MediaFormatError) { _ = try read(count) }

    mutating func readUE() throws(MediaFormatError) -> Int {
        var zeros = 0
        while try read(1) == 0 {
            zeros += 1
            guard zeros < 32 else { throw .invalid("Exp-Golomb code too long") }
        }
        return (1 << zeros) - 1 + (try read(zeros))
    }

    mutating func readSE() throws(MediaFormatError) -> Int {
        let code = try readUE()
        return code & 1 == 1 ? (code + 1) / 2 : -(code / 2)
    }
}
