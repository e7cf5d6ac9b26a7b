/// ISO base media file format boxes (ISO/IEC 14496-12): size, type, body.
struct MP4Box {
    var type: String
    /// The body, without the size and type header.
    var body: ByteReader

    /// Reads the child boxes of a box body (or of a whole `moov`).
    static func children(of body: ByteReader) throws(MediaFormatError) -> [MP4Box] {
        var reader = body
        var boxes: [MP4Box] = []
        while reader.remaining >= 8 {
            let size32 = try reader.readUInt32()
            let type = fourCC(try reader.readBytes(4))
            var bodySize: Int
            if size32 == 1 {
                let size64 = try reader.readUInt64()
                guard size64 >= 16, size64 - 16 <= UInt64(reader.remaining) else { throw .invalid("MP4 box \(type) has a bad size") }
                bodySize = Int(size64 - 16)
            } else if size32 == 0 {
                bodySize = reader.remaining
            } else {
                guard size32 >= 8 else { throw .invalid("MP4 box \(type) has a bad size") }
                bodySize = Int(size32) - 8
            }
            guard bodySize <= reader.remaining else { throw .truncated(needed: bodySize, available: reader.remaining) }
            boxes.append(MP4Box(type: type, body: try reader.subReader(bodySize)))
        }
        return boxes
    }

    static func fourCC(_ bytes: [UInt8]) -> String {
        String(decoding: bytes.map { (0x20...0x7E).contains($0) ? $0 : 0x3F }, as: UTF8.self)
    }
}

extension Array where Element == MP4Box {
    func first(_ type: String) -> MP4Box? { first(where: { $0.type == type }) }
}
