import Foundation

/// One line of a basic distribution's access log: CloudFront's standard (web) format,
/// 33 tab-separated fields, `-` where Sluice has nothing to say (field-level encryption,
/// TLS on a plain port).
public struct WebLogEntry: Sendable, Equatable {
    public var time: Date
    public var clientIP: String
    public var clientPort: Int?
    public var method: String
    /// The distribution's domain name, and the Host the client sent.
    public var distributionHost: String
    public var hostHeader: String
    public var uriStem: String
    public var uriQuery: String
    public var status: Int
    public var referrer: String
    public var userAgent: String
    public var cookie: String
    /// `Hit`, or `Error` for a 4xx/5xx.
    public var resultType: String
    public var requestID: String
    public var protocolVersion: String
    public var bytesSent: Int64
    public var bytesReceived: Int64
    public var seconds: Double
    public var contentType: String
    public var contentLength: Int64?
    public var rangeStart: Int64?
    public var rangeEnd: Int64?

    public init(time: Date, clientIP: String, clientPort: Int?, method: String, distributionHost: String, hostHeader: String, uriStem: String,
                uriQuery: String, status: Int, referrer: String, userAgent: String, cookie: String, requestID: String, protocolVersion: String,
                bytesSent: Int64, bytesReceived: Int64, seconds: Double, contentType: String, contentLength: Int64?, rangeStart: Int64?,
                rangeEnd: Int64?) {
        self.time = time
        self.clientIP = clientIP
        self.clientPort = clientPort
        self.method = method
        self.distributionHost = distributionHost
        self.hostHeader = hostHeader
        self.uriStem = uriStem
        self.uriQuery = uriQuery
        self.status = status
        self.referrer = referrer
        self.userAgent = userAgent
        self.cookie = cookie
        self.resultType = status >= 400 ? "Error" : "Hit"
        self.requestID = requestID
        self.protocolVersion = protocolVersion
        self.bytesSent = bytesSent
        self.bytesReceived = bytesReceived
        self.seconds = seconds
        self.contentType = contentType
        self.contentLength = contentLength
        self.rangeStart = rangeStart
        self.rangeEnd = rangeEnd
    }

    public static let fields = ["date", "time", "x-edge-location", "sc-bytes", "c-ip", "cs-method", "cs(Host)", "cs-uri-stem", "sc-status",
                                "cs(Referer)", "cs(User-Agent)", "cs-uri-query", "cs(Cookie)", "x-edge-result-type", "x-edge-request-id",
                                "x-host-header", "cs-protocol", "cs-bytes", "time-taken", "x-forwarded-for", "ssl-protocol", "ssl-cipher",
                                "x-edge-response-result-type", "cs-protocol-version", "fle-status", "fle-encrypted-fields", "c-port",
                                "time-to-first-byte", "x-edge-detailed-result-type", "sc-content-type", "sc-content-len", "sc-range-start",
                                "sc-range-end"]

    public static let header = "#Version: 1.0\n#Fields: " + fields.joined(separator: " ") + "\n"

    public func line(edgeLocation: String) -> String {
        let (day, clock) = StreamingLogEntry.dateAndTime(time)
        let taken = String(format: "%.3f", seconds)
        func text(_ number: Int64?) -> String { number.map { String($0) } ?? "" }
        var values: [String] = [day, clock, edgeLocation, String(bytesSent), clientIP, method, distributionHost, uriStem, String(status)]
        values += [referrer, userAgent, uriQuery, cookie, resultType, requestID, hostHeader, "http", String(bytesReceived), taken]
        values += ["", "", "", resultType, protocolVersion, "", "", clientPort.map { String($0) } ?? "", taken, resultType]
        values += [contentType, text(contentLength), text(rangeStart), text(rangeEnd)]
        return values.map(StreamingLogEntry.field).joined(separator: "\t") + "\n"
    }
}
