import SluiceMedia
import XCTest

/// AMF0 and AMF3 against byte layouts from Adobe's specifications, and round trips.
final class AMFTests: XCTestCase {
    func bytes(_ hex: String) -> [UInt8] {
        let digits = hex.filter { !$0.isWhitespace }
        return stride(from: 0, to: digits.count, by: 2).map {
            let start = digits.index(digits.startIndex, offsetBy: $0)
            return UInt8(digits[start..<digits.index(start, offsetBy: 2)], radix: 16)!
        }
    }

    // MARK: AMF0

    func testAMF0ScalarVectors() throws {
        XCTAssertEqual(AMF0.encode(.number(1)), bytes("00 3FF0000000000000"))
        XCTAssertEqual(AMF0.encode(.boolean(true)), bytes("01 01"))
        XCTAssertEqual(AMF0.encode(.string("hello")), bytes("02 0005 68656C6C6F"))
        XCTAssertEqual(AMF0.encode(.null), bytes("05"))
        XCTAssertEqual(AMF0.encode(.undefined), bytes("06"))
        XCTAssertEqual(AMF0.encode(.date(0)), bytes("0B 0000000000000000 0000"))
        XCTAssertEqual(try AMF0.decode(bytes("00 4059000000000000")), .number(100))
        XCTAssertEqual(try AMF0.decode(bytes("0C 00000003 616263")), .string("abc"))
        XCTAssertEqual(try AMF0.decode(bytes("0F 00000004 3C612F3E")), .xmlDocument("<a/>"))
    }

    func testAMF0ObjectAndArrays() throws {
        let object: AMFValue = .object(["app": .string("cfx/st"), "n": .number(3)])
        let encoded = bytes("03 0003 617070 02 0006 6366782F7374 0001 6E 00 4008000000000000 0000 09")
        XCTAssertEqual(AMF0.encode(object), encoded)
        XCTAssertEqual(try AMF0.decode(encoded), object)

        let ecma: AMFValue = .ecmaArray(["duration": .number(40)])
        XCTAssertEqual(AMF0.encode(ecma).prefix(5), bytes("08 00000001")[...])
        XCTAssertEqual(try AMF0.decode(AMF0.encode(ecma)), ecma)

        let strict: AMFValue = .strictArray([.number(1), .string("x"), .null])
        XCTAssertEqual(AMF0.encode(strict), bytes("0A 00000003 00 3FF0000000000000 02 0001 78 05"))
        XCTAssertEqual(try AMF0.decode(AMF0.encode(strict)), strict)

        let typed: AMFValue = .typedObject(className: "Point", ["x": .number(1)])
        XCTAssertEqual(try AMF0.decode(AMF0.encode(typed)), typed)
    }

    func testAMF0ReferenceRepeatsAnEarlierObject() throws {
        // [ {a: true}, reference 0 ]: a strict array is complex too, so the object is index 1.
        let encoded = bytes("0A 00000002 03 0001 61 01 01 0000 09 07 0001")
        XCTAssertEqual(try AMF0.decode(encoded), .strictArray([.object(["a": .boolean(true)]), .object(["a": .boolean(true)])]))
        XCTAssertThrowsError(try AMF0.decode(bytes("07 0005")))
    }

    func testAMF0SwitchesToAMF3ForOneValue() throws {
        XCTAssertEqual(try AMF0.decodeAll(bytes("11 04 05 02 0001 61")), [.integer(5), .string("a")])
        XCTAssertEqual(try AMF0.decode(AMF0.encode(.byteArray([1, 2, 3]))), .byteArray([1, 2, 3]))
    }

    func testAMF0CommandRoundTrip() throws {
        let values: [AMFValue] = [
            .string("connect"), .number(1),
            .object(["app": .string("cfx/st"), "tcUrl": .string("rtmp://host/cfx/st"), "objectEncoding": .number(0),
                     "nested": .object(["list": .strictArray([.boolean(false), .date(1234)])])]),
            .undefined,
        ]
        XCTAssertEqual(try AMF0.decodeAll(AMF0.encode(values)), values)
    }

    func testAMF0RejectsMalformedInput() {
        XCTAssertThrowsError(try AMF0.decode(bytes("02 0010 6162")))  // string longer than the data
        XCTAssertThrowsError(try AMF0.decode(bytes("0A FFFFFFFF")))  // array count the data cannot hold
        XCTAssertThrowsError(try AMF0.decode(bytes("03 0001 61")))  // object without its end
        XCTAssertThrowsError(try AMF0.decode(bytes("04")))  // movie clip: reserved
        XCTAssertThrowsError(try AMF0.decode(bytes("FF")))
        // Nesting deeper than the limit is refused rather than exhausting the stack.
        let deep = Array(repeating: bytes("0A 00000001"), count: 100).flatMap { $0 } + bytes("05")
        XCTAssertThrowsError(try AMF0.decode(deep))
    }

    // MARK: AMF3

    func testAMF3IntegerVectors() throws {
        let vectors: [(Int32, String)] = [
            (0, "04 00"), (127, "04 7F"), (128, "04 8100"), (16383, "04 FF7F"), (16384, "04 818000"),
            (2_097_151, "04 FFFF7F"), (2_097_152, "04 80C08000"), (268_435_455, "04 BFFFFFFF"),
            (-1, "04 FFFFFFFF"), (-268_435_456, "04 C0808000"),
        ]
        for (value, hex) in vectors {
            XCTAssertEqual(AMF3.encode(.integer(value)), bytes(hex), "\(value)")
            XCTAssertEqual(try AMF3.decode(bytes(hex)), .integer(value), "\(value)")
        }
        // Outside 29 bits an integer is written as a double.
        XCTAssertEqual(AMF3.encode(.integer(1 << 29)), bytes("05 41C0000000000000"))
    }

    func testAMF3StringsAndReferences() throws {
        XCTAssertEqual(AMF3.encode(.string("hello")), bytes("06 0B 68656C6C6F"))
        XCTAssertEqual(AMF3.encode(.string("")), bytes("06 01"))
        // ["a", "a"] with the second "a" as a string reference.
        XCTAssertEqual(try AMF3.decode(bytes("09 05 01 06 0361 06 00")), .strictArray([.string("a"), .string("a")]))
        // An object reference to the array itself is resolved to what was decoded.
        XCTAssertEqual(try AMF3.decode(bytes("09 05 01 0A 0B 01 0361 0401 01 0A 02")),
                       .strictArray([.object(["a": .integer(1)]), .object(["a": .integer(1)])]))
    }

    func testAMF3ObjectsWithTraits() throws {
        // Anonymous dynamic object {a: 1}: inline traits 0x0B, empty class name.
        let dynamic = bytes("0A 0B 01 0361 0401 01")
        XCTAssertEqual(try AMF3.decode(dynamic), .object(["a": .integer(1)]))
        XCTAssertEqual(AMF3.encode(.object(["a": .integer(1)])), dynamic)
        // Sealed class "P" with members x, y, then a second instance reusing the traits (ref 0).
        let sealed = bytes("09 05 01 0A 23 0350 0378 0379 0401 0402 0A 01 0403 0404")
        XCTAssertEqual(try AMF3.decode(sealed), .strictArray([
            .typedObject(className: "P", ["x": .integer(1), "y": .integer(2)]),
            .typedObject(className: "P", ["x": .integer(3), "y": .integer(4)]),
        ]))
    }

    func testAMF3RoundTripsEveryType() throws {
        let values: [AMFValue] = [
            .undefined, .null, .boolean(false), .boolean(true), .integer(-5), .number(2.5), .string("é"),
            .xmlDocument("<x/>"), .xml("<y/>"), .date(1_600_000_000_000), .byteArray([0, 255]),
            .strictArray([.integer(1), .string("b")]), .ecmaArray(["k": .boolean(true)]),
            .mixedArray(dense: [.integer(1)], associative: ["k": .null]),
            .object(["a": .object(["b": .string("c")])]), .typedObject(className: "T", ["x": .number(1)]),
            .vectorInt([-1, 2], fixed: true), .vectorUInt([1, 4_000_000_000], fixed: false),
            .vectorDouble([0.5], fixed: false), .vectorObject(typeName: "T", [.string("s")], fixed: false),
            .dictionary([AMFPair(key: .string("k"), value: .integer(7))], weakKeys: false),
        ]
        for value in values {
            XCTAssertEqual(try AMF3.decode(AMF3.encode(value)), value, "\(value)")
        }
    }

    func testAMF3RejectsMalformedInput() {
        XCTAssertThrowsError(try AMF3.decode(bytes("06 00")))  // string reference to an empty table
        XCTAssertThrowsError(try AMF3.decode(bytes("09 FFFFFF7F 01")))  // huge dense count
        XCTAssertThrowsError(try AMF3.decode(bytes("0A 07 0B 43 6C 61 73 73")))  // unknown externalizable class
        XCTAssertThrowsError(try AMF3.decode(bytes("12")))
    }
}
