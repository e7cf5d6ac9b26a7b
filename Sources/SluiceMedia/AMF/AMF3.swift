/// AMF3 (Adobe "AMF 3 Specification", 2013): the encoding of clients that connect with
/// `objectEncoding` 3. It arrives inside AMF0 bodies after the avmplus-object marker.
public enum AMF3 {
    enum Marker: UInt8 {
        case undefined = 0x00, null = 0x01, `false` = 0x02, `true` = 0x03, integer = 0x04
        case double = 0x05, string = 0x06, xmlDocument = 0x07, date = 0x08, array = 0x09
        case object = 0x0A, xml = 0x0B, byteArray = 0x0C, vectorInt = 0x0D, vectorUInt = 0x0E
        case vectorDouble = 0x0F, vectorObject = 0x10, dictionary = 0x11
    }

    static let integerRange: ClosedRange<Int32> = -(1 << 28)...((1 << 28) - 1)

    public static func decode(_ bytes: [UInt8]) throws(MediaFormatError) -> AMFValue {
        var decoder = Decoder(ByteReader(bytes))
        return try decoder.decodeValue()
    }

    public static func encode(_ value: AMFValue) -> [UInt8] {
        var encoder = Encoder()
        encoder.encode(value)
        return encoder.bytes
    }

    struct Traits {
        var className: String
        var isDynamic: Bool
        var sealedNames: [String]
    }

    // MARK: Decoding

    public struct Decoder {
        public var reader: ByteReader
        private var strings: [String] = []
        private var objects: [AMFValue] = []
        private var traits: [Traits] = []
        private var depth = 0

        public init(_ reader: ByteReader) { self.reader = reader }

        /// The variable-length 29-bit unsigned integer (U29).
        mutating func readU29() throws(MediaFormatError) -> UInt32 {
            var result: UInt32 = 0
            for index in 0..<4 {
                let byte = try reader.readUInt8()
                if index == 3 { return result << 8 | UInt32(byte) }
                result = result << 7 | UInt32(byte & 0x7F)
                if byte & 0x80 == 0 { return result }
            }
            return result
        }

        mutating func readString() throws(MediaFormatError) -> String {
            let header = try readU29()
            if header & 1 == 0 {
                let index = Int(header >> 1)
                guard index < strings.count else { throw .invalid("AMF3 string reference \(index) points nowhere") }
                return strings[index]
            }
            let string = try reader.readUTF8(Int(header >> 1))
            if !string.isEmpty { strings.append(string) }
            return string
        }

        /// Reads the U29 of a complex value: the referenced value, or the inline header.
        private mutating func readReferenceOrHeader() throws(MediaFormatError) -> (AMFValue?, UInt32) {
            let header = try readU29()
            if header & 1 == 0 {
                let index = Int(header >> 1)
                guard index < objects.count else { throw .invalid("AMF3 object reference \(index) points nowhere") }
                return (objects[index], header)
            }
            return (nil, header >> 1)
        }

        private mutating func reserveObject() -> Int {
            objects.append(.null)
            return objects.count - 1
        }

        private mutating func checkedCount(_ count: UInt32, bytesEach: Int = 1) throws(MediaFormatError) -> Int {
            let count = Int(count)
            guard count.multipliedReportingOverflow(by: bytesEach).partialValue <= reader.remaining else {
                throw .truncated(needed: count * bytesEach, available: reader.remaining)
            }
            return count
        }

        public mutating func decodeValue() throws(MediaFormatError) -> AMFValue {
            let byte = try reader.readUInt8()
            guard let marker = Marker(rawValue: byte) else {
                throw .invalid("unknown AMF3 type marker 0x\(String(byte, radix: 16))")
            }
            depth += 1
            defer { depth -= 1 }
            guard depth <= AMF0.maximumDepth else { throw .invalid("AMF3 values nest too deep") }
            switch marker {
            case .undefined: return .undefined
            case .null: return .null
            case .false: return .boolean(false)
            case .true: return .boolean(true)
            case .integer:
                let raw = try readU29()
                // Sign-extend from 29 bits.
                let value = raw & 0x1000_0000 != 0 ? Int32(bitPattern: raw | 0xE000_0000) : Int32(raw)
                return .integer(value)
            case .double: return .number(try reader.readDouble())
            case .string: return .string(try readString())
            case .xmlDocument, .xml:
                let (reference, length) = try readReferenceOrHeader()
                if let reference { return reference }
                let text = try reader.readUTF8(Int(length))
                let value: AMFValue = marker == .xml ? .xml(text) : .xmlDocument(text)
                objects.append(value)
                return value
            case .date:
                let (reference, _) = try readReferenceOrHeader()
                if let reference { return reference }
                let value = AMFValue.date(try reader.readDouble())
                objects.append(value)
                return value
            case .byteArray:
                let (reference, length) = try readReferenceOrHeader()
                if let reference { return reference }
                let value = AMFValue.byteArray(try reader.readBytes(Int(length)))
                objects.append(value)
                return value
            case .array:
                let (reference, denseCount) = try readReferenceOrHeader()
                if let reference { return reference }
                let slot = reserveObject()
                var associative = AMFObject()
                while true {
                    let key = try readString()
                    if key.isEmpty { break }
                    associative.append(key, try decodeValue())
                }
                let count = try checkedCount(denseCount)
                var dense: [AMFValue] = []
                dense.reserveCapacity(count)
                for _ in 0..<count { dense.append(try decodeValue()) }
                let value: AMFValue
                if associative.isEmpty {
                    value = .strictArray(dense)
                } else if dense.isEmpty {
                    value = .ecmaArray(associative)
                } else {
                    value = .mixedArray(dense: dense, associative: associative)
                }
                objects[slot] = value
                return value
            case .object:
                return try decodeObject()
            case .vectorInt, .vectorUInt, .vectorDouble, .vectorObject:
                let (reference, rawCount) = try readReferenceOrHeader()
                if let reference { return reference }
                let fixed = try reader.readUInt8() != 0
                let value: AMFValue
                switch marker {
                case .vectorInt:
                    let count = try checkedCount(rawCount, bytesEach: 4)
                    var items: [Int32] = []
                    items.reserveCapacity(count)
                    for _ in 0..<count { items.append(try reader.readInt32()) }
                    value = .vectorInt(items, fixed: fixed)
                case .vectorUInt:
                    let count = try checkedCount(rawCount, bytesEach: 4)
                    var items: [UInt32] = []
                    items.reserveCapacity(count)
                    for _ in 0..<count { items.append(try reader.readUInt32()) }
                    value = .vectorUInt(items, fixed: fixed)
                case .vectorDouble:
                    let count = try checkedCount(rawCount, bytesEach: 8)
                    var items: [Double] = []
                    items.reserveCapacity(count)
                    for _ in 0..<count { items.append(try reader.readDouble()) }
                    value = .vectorDouble(items, fixed: fixed)
                default:
                    let typeName = try readString()
                    let slot = reserveObject()
                    let count = try checkedCount(rawCount)
                    var items: [AMFValue] = []
                    items.reserveCapacity(count)
                    for _ in 0..<count { items.append(try decodeValue()) }
                    let vector = AMFValue.vectorObject(typeName: typeName, items, fixed: fixed)
                    objects[slot] = vector
                    return vector
                }
                objects.append(value)
                return value
            case .dictionary:
                let (reference, rawCount) = try readReferenceOrHeader()
                if let reference { return reference }
                let weakKeys = try reader.readUInt8() != 0
                let slot = reserveObject()
                let count = try checkedCount(rawCount, bytesEach: 2)
                var pairs: [AMFPair] = []
                pairs.reserveCapacity(count)
                for _ in 0..<count {
                    let key = try decodeValue()
                    pairs.append(AMFPair(key: key, value: try decodeValue()))
                }
                let value = AMFValue.dictionary(pairs, weakKeys: weakKeys)
                objects[slot] = value
                return value
            }
        }

        private mutating func decodeObject() throws(MediaFormatError) -> AMFValue {
            let (reference, header) = try readReferenceOrHeader()
            if let reference { return reference }
            let objectTraits: Traits
            if header & 1 == 0 {
                let index = Int(header >> 1)
                guard index < traits.count else { throw .invalid("AMF3 traits reference \(index) points nowhere") }
                objectTraits = traits[index]
            } else if header & 2 != 0 {
                // Externalizable: the class writes its own bytes. Only Flex's wrappers of a
                // single value are known; anything else cannot be skipped safely.
                let className = try readString()
                guard ["flex.messaging.io.ArrayCollection", "flex.messaging.io.ObjectProxy"].contains(className) else {
                    throw .unsupported("externalizable AMF3 class \(className)")
                }
                let slot = reserveObject()
                let inner = try decodeValue()
                let value = AMFValue.typedObject(className: className, ["source": inner])
                objects[slot] = value
                return value
            } else {
                let isDynamic = header & 4 != 0
                let sealedCount = try checkedCount(header >> 3)
                let className = try readString()
                var names: [String] = []
                for _ in 0..<sealedCount { names.append(try readString()) }
                objectTraits = Traits(className: className, isDynamic: isDynamic, sealedNames: names)
                traits.append(objectTraits)
            }
            let slot = reserveObject()
            var members = AMFObject()
            for name in objectTraits.sealedNames { members.append(name, try decodeValue()) }
            if objectTraits.isDynamic {
                while true {
                    let key = try readString()
                    if key.isEmpty { break }
                    members.append(key, try decodeValue())
                }
            }
            let value: AMFValue = objectTraits.className.isEmpty
                ? .object(members) : .typedObject(className: objectTraits.className, members)
            objects[slot] = value
            return value
        }
    }

    // MARK: Encoding

    /// Writes AMF3 without references, which every decoder accepts; strings repeat
    /// inline, a few bytes more on the rare messages that carry AMF3.
    public struct Encoder {
        public private(set) var writer = ByteWriter(capacity: 128)
        public var bytes: [UInt8] { writer.bytes }

        public init() {}

        mutating func writeU29(_ value: UInt32) {
            let value = value & 0x1FFF_FFFF
            if value < 0x80 {
                writer.write(UInt8(value))
            } else if value < 0x4000 {
                writer.write(UInt8(value >> 7 | 0x80))
                writer.write(UInt8(value & 0x7F))
            } else if value < 0x20_0000 {
                writer.write(UInt8(value >> 14 | 0x80))
                writer.write(UInt8(value >> 7 & 0x7F | 0x80))
                writer.write(UInt8(value & 0x7F))
            } else {
                writer.write(UInt8(value >> 22 | 0x80))
                writer.write(UInt8(value >> 15 & 0x7F | 0x80))
                writer.write(UInt8(value >> 8 & 0x7F | 0x80))
                writer.write(UInt8(value & 0xFF))
            }
        }

        mutating func writeString(_ string: String) {
            let utf8 = Array(string.utf8)
            writeU29(UInt32(utf8.count) << 1 | 1)
            writer.write(contentsOf: utf8)
        }

        private mutating func writeInline(_ marker: Marker, _ header: Int) {
            writer.write(marker.rawValue)
            writeU29(UInt32(header) << 1 | 1)
        }

        private mutating func writeDynamicMembers(_ object: AMFObject) {
            for member in object where !member.key.isEmpty {
                writeString(member.key)
                encode(member.value)
            }
            writeString("")
        }

        public mutating func encode(_ value: AMFValue) {
            switch value {
            case .undefined: writer.write(Marker.undefined.rawValue)
            case .null: writer.write(Marker.null.rawValue)
            case .boolean(let flag): writer.write(flag ? Marker.true.rawValue : Marker.false.rawValue)
            case .integer(let integer) where AMF3.integerRange.contains(integer):
                writer.write(Marker.integer.rawValue)
                writeU29(UInt32(bitPattern: integer))
            case .integer(let integer):
                writer.write(Marker.double.rawValue)
                writer.write(Double(integer))
            case .number(let number):
                writer.write(Marker.double.rawValue)
                writer.write(number)
            case .string(let string):
                writer.write(Marker.string.rawValue)
                writeString(string)
            case .xmlDocument(let text), .xml(let text):
                let utf8 = Array(text.utf8)
                writeInline(value == .xml(text) ? .xml : .xmlDocument, utf8.count)
                writer.write(contentsOf: utf8)
            case .date(let milliseconds):
                writeInline(.date, 0)
                writer.write(milliseconds)
            case .byteArray(let bytes):
                writeInline(.byteArray, bytes.count)
                writer.write(contentsOf: bytes)
            case .strictArray(let values):
                writeInline(.array, values.count)
                writeString("")
                for element in values { encode(element) }
            case .ecmaArray(let object):
                writeInline(.array, 0)
                writeDynamicMembers(object)
            case .mixedArray(let dense, let associative):
                writeInline(.array, dense.count)
                writeDynamicMembers(associative)
                for element in dense { encode(element) }
            case .object(let object):
                // Inline traits, dynamic, no sealed members, anonymous class.
                writer.write(Marker.object.rawValue)
                writeU29(0b1011)
                writeString("")
                writeDynamicMembers(object)
            case .typedObject(let className, let object):
                // Inline traits naming every member as sealed, so the class sees them all.
                writer.write(Marker.object.rawValue)
                writeU29(UInt32(object.count) << 4 | 0b0011)
                writeString(className)
                for member in object { writeString(member.key) }
                for member in object { encode(member.value) }
            case .vectorInt(let items, let fixed):
                writeInline(.vectorInt, items.count)
                writer.write(UInt8(fixed ? 1 : 0))
                for item in items { writer.write(UInt32(bitPattern: item)) }
            case .vectorUInt(let items, let fixed):
                writeInline(.vectorUInt, items.count)
                writer.write(UInt8(fixed ? 1 : 0))
                for item in items { writer.write(item) }
            case .vectorDouble(let items, let fixed):
                writeInline(.vectorDouble, items.count)
                writer.write(UInt8(fixed ? 1 : 0))
                for item in items { writer.write(item) }
            case .vectorObject(let typeName, let items, let fixed):
                writeInline(.vectorObject, items.count)
                writer.write(UInt8(fixed ? 1 : 0))
                writeString(typeName)
                for item in items { encode(item) }
            case .dictionary(let pairs, let weakKeys):
                writeInline(.dictionary, pairs.count)
                writer.write(UInt8(weakKeys ? 1 : 0))
                for pair in pairs {
                    encode(pair.key)
                    encode(pair.value)
                }
            }
        }
    }
}
