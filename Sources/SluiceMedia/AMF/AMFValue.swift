/// One value of Action Message Format, as AMF0 and AMF3 carry it.
///
/// A single type covers both encodings so that command handling does not care how a
/// client encoded its call; the AMF3-only cases are written as AMF3 when AMF0 has no
/// equivalent.
public indirect enum AMFValue: Equatable, Sendable {
    case number(Double)
    case boolean(Bool)
    case string(String)
    case object(AMFObject)
    case null
    case undefined
    /// AMF0 ECMA array, or an AMF3 array that has only associative members.
    case ecmaArray(AMFObject)
    /// AMF0 strict array, or an AMF3 array that has only dense members.
    case strictArray([AMFValue])
    /// Milliseconds since 1970; AMF0 also carries a time-zone field that must be 0.
    case date(Double)
    case xmlDocument(String)
    case typedObject(className: String, AMFObject)
    // AMF3 only.
    case integer(Int32)
    case xml(String)
    case byteArray([UInt8])
    /// An AMF3 array with both dense and associative parts.
    case mixedArray(dense: [AMFValue], associative: AMFObject)
    case vectorInt([Int32], fixed: Bool)
    case vectorUInt([UInt32], fixed: Bool)
    case vectorDouble([Double], fixed: Bool)
    case vectorObject(typeName: String, [AMFValue], fixed: Bool)
    case dictionary([AMFPair], weakKeys: Bool)

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var doubleValue: Double? {
        switch self {
        case .number(let value): return value
        case .integer(let value): return Double(value)
        default: return nil
        }
    }

    public var boolValue: Bool? {
        switch self {
        case .boolean(let value): return value
        case .number(let value): return value != 0
        case .integer(let value): return value != 0
        default: return nil
        }
    }

    /// The members of an object-like value (anonymous, typed, ECMA array), else nil.
    public var objectValue: AMFObject? {
        switch self {
        case .object(let object), .ecmaArray(let object), .typedObject(_, let object): return object
        case .mixedArray(_, let object): return object
        default: return nil
        }
    }

    /// The elements of an array-like value, else nil.
    public var arrayValue: [AMFValue]? {
        switch self {
        case .strictArray(let values): return values
        case .mixedArray(let dense, _): return dense
        case .vectorObject(_, let values, _): return values
        case .vectorDouble(let values, _): return values.map { .number($0) }
        case .vectorInt(let values, _): return values.map { .integer($0) }
        case .vectorUInt(let values, _): return values.map { .number(Double($0)) }
        default: return nil
        }
    }

    public subscript(key: String) -> AMFValue? { objectValue?[key] }
}

/// A key and value of an AMF3 dictionary.
public struct AMFPair: Equatable, Sendable {
    public var key: AMFValue
    public var value: AMFValue
    public init(key: AMFValue, value: AMFValue) {
        self.key = key
        self.value = value
    }
}

/// The members of an AMF object in the order they were written.
///
/// Order matters on the wire: players and tools such as rtmpdump print and compare
/// `onMetaData` members in file order, so a dictionary would not do.
public struct AMFObject: Equatable, Sendable, ExpressibleByDictionaryLiteral, Sequence {
    public struct Member: Equatable, Sendable {
        public var key: String
        public var value: AMFValue
    }

    public private(set) var members: [Member]

    public init() { members = [] }

    public init(_ pairs: [(String, AMFValue)]) {
        members = pairs.map { Member(key: $0.0, value: $0.1) }
    }

    public init(dictionaryLiteral elements: (String, AMFValue)...) {
        self.init(elements)
    }

    public var count: Int { members.count }
    public var isEmpty: Bool { members.isEmpty }

    /// Reads or replaces the first member with that key; setting nil removes it.
    public subscript(key: String) -> AMFValue? {
        get { members.first(where: { $0.key == key })?.value }
        set {
            if let index = members.firstIndex(where: { $0.key == key }) {
                if let newValue { members[index].value = newValue } else { members.remove(at: index) }
            } else if let newValue {
                members.append(Member(key: key, value: newValue))
            }
        }
    }

    /// Appends without looking for an existing key (decoders keep duplicates as sent).
    public mutating func append(_ key: String, _ value: AMFValue) {
        members.append(Member(key: key, value: value))
    }

    public func makeIterator() -> IndexingIterator<[Member]> { members.makeIterator() }
}

extension AMFValue: ExpressibleByStringLiteral, ExpressibleByBooleanLiteral, ExpressibleByFloatLiteral, ExpressibleByIntegerLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(booleanLiteral value: Bool) { self = .boolean(value) }
    public init(floatLiteral value: Double) { self = .number(value) }
    /// Integer literals are AMF numbers (doubles), as AMF0 and ActionScript's Number have them.
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
}
