/// AMF0 (Adobe "Action Message Format -- AMF 0", 2007): the encoding of RTMP commands
/// and of FLV script data.
public enum AMF0 {
    enum Marker: UInt8 {
        case number = 0x00, boolean = 0x01, string = 0x02, object = 0x03, movieClip = 0x04
        case null = 0x05, undefined = 0x06, reference = 0x07, ecmaArray = 0x08, objectEnd = 0x09
        case strictArray = 0x0A, date = 0x0B, longString = 0x0C, unsupported = 0x0D
        case recordSet = 0x0E, xmlDocument = 0x0F, typedObject = 0x10, avmPlusObject = 0x11
    }

    /// How deep objects may nest before the input is treated as hostile.
    public static let maximumDepth = 64

    // MARK: Decoding

    /// Decodes values until the input ends.
    public static func decodeAll(_ bytes: [UInt8]) throws(MediaFormatError) -> [AMFValue] {
        var decoder = Decoder(ByteReader(bytes))
        var values: [AMFValue] = []
        while !decoder.reader.isAtEnd {
            values.append(try decoder.decodeValue())
        }
        return values
    }

    /// Decodes one value.
    public static func decode(_ bytes: [UInt8]) throws(MediaFormatError) -> AMFValue {
        var decoder = Decoder(ByteReader(bytes))
        return try decoder.decodeValue()
    }

    public struct Decoder {
        public var reader: ByteReader
        /// Complex values by order of appearance, for AMF0 reference markers.
        private var references: [AMFValue] = []
        private var depth = 0

        public init(_ reader: ByteReader) { self.reader = reader }

        public mutating func decodeValue() throws(MediaFormatError) -> AMFValue {
            let byte = try reader.readUInt8()
            guard let marker = Marker(rawValue: byte) else {
                throw .invalid("unknown AMF0 type marker 0x\(String(byte, radix: 16))")
            }
            depth += 1
            defer { depth -= 1 }
            guard depth <= AMF0.maximumDepth else { throw .invalid("AMF0 values nest too deep") }
            switch marker {
            case .number: return .number(try reader.readDouble())
            case .boolean: return .boolean(try reader.readUInt8() != 0)
            case .string: return .string(try reader.readUTF8(Int(try reader.readUInt16())))
            case .longString: return .string(try reader.readUTF8(Int(try reader.readUInt32())))
            case .xmlDocument: return .xmlDocument(try reader.readUTF8(Int(try reader.readUInt32())))
            case .null: return .null
            case .undefined, .unsupported: return .undefined
            case .object:
                let slot = reserveReference()
                let value = AMFValue.object(try decodeMembers())
                references[slot] = value
                return value
            case .typedObject:
                let className = try reader.readUTF8(Int(try reader.readUInt16()))
                let slot = reserveReference()
                let value = AMFValue.typedObject(className: className, try decodeMembers())
                references[slot] = value
                return value
            case .ecmaArray:
                _ = try reader.readUInt32()  // an advisory count; the end marker is what counts
                let slot = reserveReference()
                let value = AMFValue.ecmaArray(try decodeMembers())
                references[slot] = value
                return value
            case .strictArray:
                let count = Int(try reader.readUInt32())
                // Each element takes at least one byte: refuse counts the input cannot hold.
                guard count <= reader.remaining else { throw .truncated(needed: count, available: reader.remaining) }
                let slot = reserveReference()
                var values: [AMFValue] = []
                values.reserveCapacity(count)
                for _ in 0..<count { values.append(try decodeValue()) }
                references[slot] = .strictArray(values)
                return .strictArray(values)
            case .date:
                let milliseconds = try reader.readDouble()
                _ = try reader.readInt16()  // time zone: reserved, "should be 0"
                return .date(milliseconds)
            case .reference:
                let index = Int(try reader.readUInt16())
                guard index < references.count else { throw .invalid("AMF0 reference \(index) points nowhere") }
                return references[index]
            case .avmPlusObject:
                var amf3 = AMF3.Decoder(reader)
                let value = try amf3.decodeValue()
                reader = amf3.reader
                return value
            case .movieClip, .recordSet, .objectEnd:
                throw .invalid("AMF0 type marker 0x\(String(byte, radix: 16)) is reserved")
            }
        }

        private mutating func reserveReference() -> Int {
            references.append(.null)
            return references.count - 1
        }

        /// Reads `key value` pairs up to the empty key followed by the object-end marker.
        private mutating func decodeMembers() throws(MediaFormatError) -> AMFObject {
            var object = AMFObject()
            while true {
                let keyLength = Int(try reader.readUInt16())
                if keyLength == 0 {
                    let end = try reader.peekUInt8()
                    if end == Marker.objectEnd.rawValue {
                        try reader.skip(1)
                        return object
                    }
                    // Some encoders write an empty key for a real member: keep it.
                    object.append("", try decodeValue())
                    continue
                }
                let key = try reader.readUTF8(keyLength)
                object.append(key, try decodeValue())
            }
        }
    }

    // MARK: Encoding

    public static func encode(_ values: [AMFValue]) -> [UInt8] {
        var writer = ByteWriter(capacity: 256)
        for value in values { encode(value, into: &writer) }
        return writer.bytes
    }

    public static func encode(_ value: AMFValue) -> [UInt8] { encode([value]) }

    public static func encode(_ value: AMFValue, into writer: inout ByteWriter) {
        switch value {
        case .number(let number):
            writer.write(Marker.number.rawValue)
            writer.write(number)
        case .integer(let integer):
            writer.write(Marker.number.rawValue)
            writer.write(Double(integer))
        case .boolean(let flag):
            writer.write(Marker.boolean.rawValue)
            writer.write(UInt8(flag ? 1 : 0))
        case .string(let string):
            let utf8 = Array(string.utf8)
            if utf8.count > Int(UInt16.max) {
                writer.write(Marker.longString.rawValue)
                writer.write(UInt32(utf8.count))
            } else {
                writer.write(Marker.string.rawValue)
                writer.write(UInt16(utf8.count))
            }
            writer.write(contentsOf: utf8)
        case .xmlDocument(let xml), .xml(let xml):
            let utf8 = Array(xml.utf8)
            writer.write(Marker.xmlDocument.rawValue)
            writer.write(UInt32(utf8.count))
            writer.write(contentsOf: utf8)
        case .null:
            writer.write(Marker.null.rawValue)
        case .undefined:
            writer.write(Marker.undefined.rawValue)
        case .object(let object):
            writer.write(Marker.object.rawValue)
            encodeMembers(object, into: &writer)
        case .typedObject(let className, let object):
            writer.write(Marker.typedObject.rawValue)
            writeKey(className, into: &writer)
            encodeMembers(object, into: &writer)
        case .ecmaArray(let object):
            writer.write(Marker.ecmaArray.rawValue)
            writer.write(UInt32(object.count))
            encodeMembers(object, into: &writer)
        case .strictArray(let values):
            writer.write(Marker.strictArray.rawValue)
            writer.write(UInt32(values.count))
            for element in values { encode(element, into: &writer) }
        case .date(let milliseconds):
            writer.write(Marker.date.rawValue)
            writer.write(milliseconds)
            writer.write(UInt16(0))
        case .byteArray, .mixedArray, .vectorInt, .vectorUInt, .vectorDouble, .vectorObject, .dictionary:
            // No AMF0 form: switch to AMF3 for this one value, as Flash Player does.
            writer.write(Marker.avmPlusObject.rawValue)
            var amf3 = AMF3.Encoder()
            amf3.encode(value)
            writer.write(contentsOf: amf3.bytes)
        }
    }

    private static func writeKey(_ key: String, into writer: inout ByteWriter) {
        let utf8 = Array(key.utf8.prefix(Int(UInt16.max)))
        writer.write(UInt16(utf8.count))
        writer.write(contentsOf: utf8)
    }

    private static func encodeMembers(_ object: AMFObject, into writer: inout ByteWriter) {
        for member in object {
            writeKey(member.key, into: &writer)
            encode(member.value, into: &writer)
        }
        writer.write(UInt16(0))
        writer.write(Marker.objectEnd.rawValue)
    }
}
