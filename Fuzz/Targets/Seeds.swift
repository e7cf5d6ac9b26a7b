import Crypto
import Foundation
import NIOCore
import SluiceMedia
import SluiceRTMP
@testable import SluiceStore

/// Valid inputs for each target, made with the project's own encoders: a fuzzer that
/// starts from them reaches deep states (a connected session playing a file, a signed
/// request) at once.
enum RTMPSeeds {
    static func command(_ name: String, _ transaction: Double, _ object: AMFValue = .null, _ arguments: [AMFValue] = [],
                        streamID: UInt32 = 0, amf3: Bool = false) -> RTMPMessage {
        RTMPCommand(name: name, transactionID: transaction, commandObject: object, arguments: arguments)
            .message(streamID: streamID, chunkStreamID: streamID == 0 ? 3 : 8, amf3: amf3)
    }

    static let connect = command("connect", 1, .object(["app": "cfx/st", "tcUrl": "rtmp://127.0.0.1:1935/cfx/st",
                                                        "flashVer": "LNX 10,0,32,18", "objectEncoding": 0]))

    /// A player's conversation: connect, createStream, buffer length, play, seek, pause.
    static var conversation: [RTMPMessage] {
        [
            connect,
            ProtocolControl.windowAcknowledgementSize(2_500_000),
            command("createStream", 2),
            ProtocolControl.userControl(.setBufferLength(streamID: 1, milliseconds: 3000)),
            command("play", 0, .null, ["clip", -2000, -1], streamID: 1),
            command("getStreamLength", 3, .null, ["clip.flv"]),
            command("seek", 0, .null, [1500], streamID: 1),
            command("pause", 0, .null, [true, 2000], streamID: 1),
            command("pause", 0, .null, [false, 2000], streamID: 1),
            command("play", 0, .null, ["videos/clip.flv", 0, 1000, false], streamID: 1),
            command("play2", 0, .null, [.object(["streamName": "clip", "start": 1, "len": -1, "transition": "reset"])], streamID: 1),
            command("receiveVideo", 0, .null, [false], streamID: 1),
            command("deleteStream", 4, .null, [1]),
        ]
    }

    /// Dynamic streaming: switches (standard, fast, behind the playhead, to nothing) and
    /// the playlist transitions, between two renditions.
    static var switching: [RTMPMessage] {
        func play2(_ options: AMFObject) -> RTMPMessage { command("play2", 0, .null, [.object(options)], streamID: 1) }
        return [
            connect,
            command("createStream", 2),
            ProtocolControl.userControl(.setBufferLength(streamID: 1, milliseconds: 1000)),
            command("play", 0, .null, ["clip", -2000, -1], streamID: 1),
            play2(["streamName": "low", "oldStreamName": "clip", "transition": "switch"]),
            play2(["streamName": "clip", "oldStreamName": "low", "transition": "switch", "offset": 2.5]),
            play2(["streamName": "low", "oldStreamName": "clip", "transition": "switch", "offset": 0.1]),
            play2(["streamName": "missing", "oldStreamName": "clip", "transition": "switch"]),
            command("seek", 0, .null, [3000], streamID: 1),
            play2(["streamName": "videos/clip.flv", "transition": "append"]),
            play2(["streamName": "low", "oldStreamName": "videos/clip.flv", "transition": "swap"]),
            play2(["streamName": "clip", "transition": "appendAndWait"]),
            play2(["streamName": "low", "transition": "resume", "start": 1]),
            play2(["streamName": "low", "transition": "stop"]),
        ]
    }

    static func chunked(_ messages: [RTMPMessage], chunkSize: Int = 128) -> [UInt8] {
        var encoder = ChunkEncoder()
        var out = ByteBuffer()
        if chunkSize != 128 {
            encoder.write(ProtocolControl.setChunkSize(chunkSize), into: &out)
            encoder.setChunkSize(chunkSize)
        }
        for message in messages { encoder.write(message, into: &out) }
        return Array(out.readableBytesView)
    }

    static func handshakes() -> [[UInt8]] {
        var simple = [UInt8](repeating: 0, count: 1 + 1536)
        simple[0] = 3
        for index in 9..<simple.count { simple[index] = UInt8(truncatingIfNeeded: index &* 31) }
        var c1 = [UInt8](repeating: 0, count: 1536)
        for index in 8..<1536 { c1[index] = UInt8(truncatingIfNeeded: index &* 17) }
        c1[4...7] = [9, 0, 124, 2]
        HandshakeDigest.sign(&c1, scheme: .one, key: HandshakeDigest.playerKeyShort)
        let c2 = [UInt8](repeating: 7, count: 1536)
        // Four control bytes (piece sizes) lead every input of this target.
        return [[0, 0, 0, 0] + simple + c2 + chunked([connect]),
                [200, 3, 90, 1] + [3] + c1 + c2 + chunked(conversation)]
    }

    /// Whole RTMPE handshakes of each type from the project's client against the target's
    /// fixed server, then the first chunks encrypted: a type selector, the scheme (two),
    /// the split point, C1, C2, the chunks.
    static func rtmpeHandshakes() -> [[UInt8]] {
        var inputs: [[UInt8]] = []
        for (selector, type) in [(0, 6), (1, 8), (2, 9)] as [(UInt8, UInt8)] {
            var client = ClientHandshake(digest: true, encryption: type, randomBytes: { [UInt8](repeating: 0x33, count: $0) })
            var server = RTMPTargets.rtmpeServer()
            guard case .send(let reply)? = try? server.feed(ByteBuffer(bytes: client.c0c1)),
                  let done = try? client.feed(ByteBuffer(bytes: reply)), var ciphers = done.ciphers else { continue }
            var chunks = chunked(conversation)
            ciphers.outgoing.apply(&chunks)
            // Kept only if it replays to the end of the handshake, as the target runs it.
            var replay = RTMPTargets.rtmpeServer()
            guard case .send? = try? replay.feed(ByteBuffer(bytes: client.c0c1)),
                  case .complete? = try? replay.feed(ByteBuffer(bytes: done.c2)) else { continue }
            inputs.append([selector, 1, 0x06, 0x10] + Array(client.c0c1.dropFirst()) + done.c2 + chunks)
        }
        return inputs
    }

    /// Tunnel paths, and a send carrying a C0 C1 and the first chunks.
    static func tunnelRequests() -> [[UInt8]] {
        var c0c1 = [UInt8](repeating: 0, count: 1 + 1536)
        c0c1[0] = 3
        return [Array("/open/1".utf8), Array("/idle/5f3a/2".utf8), Array("/close/5f3a/9".utf8), Array("/fcs/ident2".utf8),
                Array("/send/5f3a/1\n".utf8) + c0c1 + [UInt8](repeating: 7, count: 1536) + chunked(conversation)]
    }

    /// What a server answers a digest and a simple C1, and the first chunks after it:
    /// four piece sizes and the digest flag lead every input.
    static func serverHandshakes() -> [[UInt8]] {
        var inputs: [[UInt8]] = []
        for digest in [true, false] {
            let client = ClientHandshake(digest: digest, randomBytes: { [UInt8](repeating: 0x33, count: $0) })
            var server = ServerHandshake(randomBytes: { [UInt8](repeating: 0x5A, count: $0) }, epochMilliseconds: { 1234 })
            guard case .send(let reply)? = try? server.feed(ByteBuffer(bytes: client.c0c1)) else { continue }
            inputs.append([200, 3, 90, 1, digest ? 1 : 0] + reply + chunked(conversation))
        }
        return inputs
    }

    static func chunkStreams() -> [[UInt8]] {
        // Four bytes of chunk size and three of piece sizes lead every input.
        [[0, 0, 0, 128, 0, 0, 0] + chunked(conversation),
         [0, 0, 16, 0, 9, 200, 31] + chunked(conversation, chunkSize: 4096),
         [0, 0, 0, 1, 0, 0, 0] + chunked([connect])]
    }

    static func amf0Values() -> [[UInt8]] {
        [AMF0.encode([.string("connect"), .number(1), .object(["app": "cfx/st", "list": .strictArray([1, "two", .null])])]),
         AMF0.encode([.string("onMetaData"), .ecmaArray(["duration": 4, "keyframes": .object(["times": .strictArray([0, 1])])])]),
         AMF0.encode([.date(1_700_000_000_000), .typedObject(className: "Point", ["x": 1]), .string(String(repeating: "a", count: 70000))])]
    }

    static func amf3Values() -> [[UInt8]] {
        [AMF3.encode(.object(["streamName": "clip", "transition": "switch", "offset": 2.5])),
         AMF3.encode(.strictArray([.integer(5), .string("x"), .string("x"), .byteArray([1, 2, 3]), .vectorInt([1, -1], fixed: false)])),
         AMF3.encode(.dictionary([AMFPair(key: "k", value: .number(1))], weakKeys: false))]
    }

    /// Messages framed as the session target reads them: kind, stream, length, payload.
    static func sessions() -> [[UInt8]] {
        [framed(conversation), framed(switching)]
    }

    private static func framed(_ messages: [RTMPMessage]) -> [UInt8] {
        let types: [UInt8] = [20, 17, 4, 1, 5, 3, 18, 6]
        var framed: [UInt8] = []
        for message in messages {
            let payload = Array(message.payload.readableBytesView)
            framed.append(UInt8(types.firstIndex(of: message.typeID) ?? 0) | 8)
            framed.append(UInt8(truncatingIfNeeded: message.streamID))
            framed.append(UInt8(payload.count >> 8))
            framed.append(UInt8(payload.count & 0xFF))
            framed.append(contentsOf: payload)
        }
        return framed
    }
}

enum S3Seeds {
    static func text(_ method: String, _ target: String, _ headers: [(String, String)]) -> [UInt8] {
        Array(([method + " " + target] + headers.map { "\($0.0): \($0.1)" }).joined(separator: "\n").utf8)
    }

    static func requests() -> [[UInt8]] {
        [text("GET", "/media/clip.flv", [("Host", "127.0.0.1:9000"), ("Range", "bytes=0-99"), ("If-Modified-Since", "Wed, 25 Nov 2026 10:00:00 GMT")]),
         text("GET", "/media?list-type=2&prefix=talks%2F&max-keys=10&delimiter=/", [("Host", "127.0.0.1:9000")]),
         text("PUT", "/media/a%20b.flv?partNumber=3&uploadId=abc", [("Host", "media.localhost:9000"), ("x-amz-date", "20261125T100000Z")]),
         text("POST", "/media?delete", [("Host", "localhost"), ("Range", "bytes=-500")]),
         text("PUT", "/media/t.flv", [("Host", "localhost"), ("x-amz-meta-title", "=?UTF-8?B?aMOpbGxv?="), ("x-amz-meta-note", "=?utf-8?Q?caf=C3=A9_au_lait?="),
                                      ("Cache-Control", "max-age=60"), ("Content-Encoding", "aws-chunked,gzip"), ("If-None-Match", "*")])]
        + signedRequests()
    }

    /// Form uploads as boto3's generate_presigned_post and a browser make them: the
    /// Content-Type line, then the body (three bytes of piece sizes first).
    static func postForms() -> [[UInt8]] {
        let policy = Data(#"{"expiration": "2030-01-01T00:00:00Z", "conditions": [{"bucket": "media"}, ["starts-with", "$key", "up/"], {"acl": "public-read"}, ["content-length-range", 1, 100], ["eq", "$Content-Type", "text/plain"]]}"#.utf8).base64EncodedString()
        let scope = SignatureV4.Scope(date: "20261125", region: "us-east-1", service: "s3")
        let signature = SignatureV4.signature(key: SignatureV4.signingKey(secret: S3Targets.secret, scope: scope), stringToSign: policy)
        let fields = [("key", "up/${filename}"), ("acl", "public-read"), ("Content-Type", "text/plain"), ("x-amz-algorithm", "AWS4-HMAC-SHA256"),
                      ("x-amz-credential", "\(S3Targets.accessKey)/20261125/us-east-1/s3/aws4_request"), ("x-amz-date", "20261125T000000Z"),
                      ("policy", policy), ("x-amz-signature", signature)]
        var body = ""
        for (name, value) in fields { body += "--XyZ\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n" }
        body += "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--XyZ--\r\n"
        let v2 = body.replacingOccurrences(of: "x-amz-signature", with: "signature")
        return [[7, 100, 13] + Array("multipart/form-data; boundary=XyZ\n\(body)".utf8),
                [255, 255, 255] + Array("multipart/form-data; boundary=\"XyZ\"\n\(v2)".utf8)]
    }

    static func signedRequests() -> [[UInt8]] {
        let now = Date(timeIntervalSince1970: 1_764_000_000)
        var request = SignatureV4.Request(method: "GET", path: "/media/clip.flv", query: [("versionId", "null")],
                                          headers: [("host", "127.0.0.1:9000")])
        SignatureV4.sign(&request, accessKey: S3Targets.accessKey, secret: S3Targets.secret, region: "us-east-1",
                         payloadHash: SignatureV4.unsignedPayload, now: now)
        let query = request.query.map { "\($0.name)=\($0.value)" }.joined(separator: "&")
        let signed = text(request.method, request.path + "?" + query, request.headers)
        let presigned = text("GET", "/media/clip.flv?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDFUZZ%2F20251124%2Fus-east-1%2Fs3%2Faws4_request"
                             + "&X-Amz-Date=20251124T160000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=00", [("Host", "127.0.0.1:9000")])
        let v2 = text("GET", "/media/clip.flv", [("Host", "127.0.0.1:9000"), ("Date", "Tue, 24 Nov 2025 16:00:00 GMT"),
                                                  ("Authorization", "AWS AKIDFUZZ:frJIUN8DYpKDtOLCwo//yllqDzg=")])
        let v2Presigned = text("GET", "/media/clip.flv?AWSAccessKeyId=AKIDFUZZ&Expires=1764003600&Signature=abc%3D", [("Host", "media.localhost")])
        return [signed, presigned, v2, v2Presigned]
    }

    static var chunkSigning: AWSChunkedDecoder.Signing {
        let scope = SignatureV4.Scope(date: "20251124", region: "us-east-1", service: "s3")
        return AWSChunkedDecoder.Signing(key: SignatureV4.signingKey(secret: S3Targets.secret, scope: scope), amzDate: "20251124T160000Z",
                                         scope: scope, seedSignature: String(repeating: "0", count: 64))
    }

    static func chunkedBodies() -> [[UInt8]] {
        let data = Data("hello, chunked world".utf8)
        let first = SignatureV4.chunkSignature(key: chunkSigning.key, amzDate: chunkSigning.amzDate, scope: chunkSigning.scope,
                                               previous: chunkSigning.seedSignature, chunk: data)
        let last = SignatureV4.chunkSignature(key: chunkSigning.key, amzDate: chunkSigning.amzDate, scope: chunkSigning.scope,
                                              previous: first, chunk: Data())
        let signed = "\(String(data.count, radix: 16));chunk-signature=\(first)\r\nhello, chunked world\r\n0;chunk-signature=\(last)\r\n\r\n"
        let unsigned = "14\r\nhello, chunked world\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"
        // One control byte (signed or not) and three of piece sizes lead every input.
        return [[1, 0, 5, 200] + Array(signed.utf8), [0, 2, 0, 0] + Array(unsigned.utf8)]
    }

    static func documents() -> [[UInt8]] {
        let complete = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Part><PartNumber>1</PartNumber>"
            + "<ETag>\"0123456789abcdef0123456789abcdef\"</ETag></Part><Part><PartNumber>2</PartNumber><ETag>\"aa\"</ETag></Part></CompleteMultipartUpload>"
        let delete = "<Delete><Quiet>true</Quiet><Object><Key>a.flv</Key></Object><Object><Key>b/c.mp4</Key></Object></Delete>"
        let acl = "<AccessControlPolicy><Owner><ID>sluice</ID></Owner><AccessControlList><Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\""
            + " xsi:type=\"Group\"><URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee><Permission>READ</Permission></Grant>"
            + "</AccessControlList></AccessControlPolicy>"
        let grants = #"id="\#(String(repeating: "ab", count: 32))", uri="http://acs.amazonaws.com/groups/global/AuthenticatedUsers", emailAddress="a@b.c""#
        return [complete, delete, acl, grants].map { Array($0.utf8) }
    }
}

enum FileSeeds {
    static func presets() -> [[UInt8]] {
        [Array("""
            name: tiny
            outputs: [flv, mp4]
            keyframe-interval: 2
            video:
              bitrate-rule: kush-gauge
              motion-rank: 2
            audio:
              codec: aac
              minimum-bitrate: 24
            rungs:
              - name: 360p
                tier: 800
                height: 360
                audio-bitrate: 96
              - name: 240p
                tier: 400
                height: 240
                audio-bitrate: 64
            """.utf8)]
    }

    static func jobFiles() -> [[UInt8]] {
        [Array("""
            inputs:
              - ../uploads/*.mp4
            preset: dynamic-streaming
            bucket: media
            prefix: talks
            acl: public-read
            priority: 10
            metadata:
              title: Opening keynote
            """.utf8)]
    }
}
