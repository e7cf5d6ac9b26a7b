/// H.264 byte-stream conversions between what encoders emit (Annex B: start codes) and
/// what FLV and MP4 carry (AVCC: length-prefixed NAL units, ISO 14496-15).
public enum H264Bitstream {
    /// The NAL units of an Annex B stream, without their start codes.
    public static func nalUnits(annexB bytes: UnsafeRawBufferPointer) -> [UnsafeRawBufferPointer] {
        var units: [UnsafeRawBufferPointer] = []
        let count = bytes.count
        var index = 0
        var start: Int?
        while index + 2 < count {
            if bytes[index] == 0, bytes[index + 1] == 0, bytes[index + 2] == 1 {
                if let unitStart = start {
                    // A 4-byte start code's leading zero belongs to no unit.
                    var end = index
                    while end > unitStart, bytes[end - 1] == 0 { end -= 1 }
                    if end > unitStart { units.append(UnsafeRawBufferPointer(rebasing: bytes[unitStart..<end])) }
                }
                index += 3
                start = index
                continue
            }
            index += 1
        }
        if let unitStart = start, unitStart < count {
            units.append(UnsafeRawBufferPointer(rebasing: bytes[unitStart..<count]))
        } else if start == nil, count > 0 {
            // Already length-prefixed or a bare unit: leave it to the caller.
            units.append(bytes)
        }
        return units
    }

    public static func nalUnits(annexB bytes: [UInt8]) -> [[UInt8]] {
        bytes.withUnsafeBytes { nalUnits(annexB: $0).map { Array($0) } }
    }

    /// Annex B to AVCC with 4-byte lengths, appended to `output`.
    public static func appendAVCC(annexB bytes: UnsafeRawBufferPointer, to output: inout [UInt8]) {
        for unit in nalUnits(annexB: bytes) {
            let length = UInt32(unit.count)
            output.append(UInt8(length >> 24))
            output.append(UInt8(length >> 16 & 0xFF))
            output.append(UInt8(length >> 8 & 0xFF))
            output.append(UInt8(length & 0xFF))
            output.append(contentsOf: unit)
        }
    }

    /// An AVCDecoderConfigurationRecord (avcC) from Annex B parameter sets (an encoder's
    /// global header). Nil without an SPS and a PPS.
    public static func decoderConfiguration(annexB bytes: [UInt8]) -> [UInt8]? {
        let units = nalUnits(annexB: bytes)
        let sps = units.filter { ($0.first ?? 0) & 0x1F == 7 }
        let pps = units.filter { ($0.first ?? 0) & 0x1F == 8 }
        guard let first = sps.first, first.count >= 4, !pps.isEmpty else { return nil }
        var record: [UInt8] = [1, first[1], first[2], first[3], 0xFF, 0xE0 | UInt8(sps.count)]
        for unit in sps {
            record.append(UInt8(unit.count >> 8))
            record.append(UInt8(unit.count & 0xFF))
            record.append(contentsOf: unit)
        }
        record.append(UInt8(pps.count))
        for unit in pps {
            record.append(UInt8(unit.count >> 8))
            record.append(UInt8(unit.count & 0xFF))
            record.append(contentsOf: unit)
        }
        // High profiles carry chroma format and bit depths (ISO 14496-15 5.3.3.1.2).
        if [100, 110, 122, 144].contains(Int(first[1])) {
            record.append(contentsOf: [0xFC | 1, 0xF8, 0xF8, 0])
        }
        return record
    }
}
