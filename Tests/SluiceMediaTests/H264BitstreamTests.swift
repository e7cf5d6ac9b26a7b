import SluiceMedia
import XCTest

final class H264BitstreamTests: XCTestCase {
    let sps: [UInt8] = [0x67, 0x42, 0xC0, 0x1E, 0xDA, 0x02, 0x80, 0xBF, 0xE5, 0x84]
    let pps: [UInt8] = [0x68, 0xCE, 0x3C, 0x80]
    let idr: [UInt8] = [0x65, 0x88, 0x84, 0x00, 0x00, 0x03, 0x00, 0x01]

    func testAnnexBToAVCCWithThreeAndFourByteStartCodes() {
        let stream = [0, 0, 0, 1] + sps + [0, 0, 1] + pps + [0, 0, 0, 1] + idr
        XCTAssertEqual(H264Bitstream.nalUnits(annexB: stream), [sps, pps, idr])
        var avcc: [UInt8] = []
        stream.withUnsafeBytes { H264Bitstream.appendAVCC(annexB: $0, to: &avcc) }
        XCTAssertEqual(avcc, [0, 0, 0, 10] + sps + [0, 0, 0, 4] + pps + [0, 0, 0, 8] + idr)
    }

    func testDecoderConfigurationRecord() {
        let record = H264Bitstream.decoderConfiguration(annexB: [0, 0, 0, 1] + sps + [0, 0, 0, 1] + pps)
        XCTAssertEqual(record, [1, 0x42, 0xC0, 0x1E, 0xFF, 0xE1, 0, 10] + sps + [1, 0, 4] + pps)
        XCTAssertNil(H264Bitstream.decoderConfiguration(annexB: [0, 0, 1] + pps))
    }
}
