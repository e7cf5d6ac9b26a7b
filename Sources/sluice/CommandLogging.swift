import Foundation
import Logging
import SluiceCommandLine

/// How log lines are written to standard error.
enum LogFormat: String, Sendable {
    /// swift-log's own lines, for people.
    case text
    /// One JSON object per line (`time`, `level`, `message`, and the metadata as
    /// fields), for log shippers.
    case json
}

enum CommandLogging {
    static func bootstrap(level: Logger.Level, format: LogFormat) {
        LoggingSystem.bootstrap { label in
            switch format {
            case .text:
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            case .json:
                var handler = JSONLogHandler(label: label)
                handler.logLevel = level
                return handler
            }
        }
    }

    static func logger(level: Logger.Level = .info, format: LogFormat = .text) -> Logger {
        bootstrap(level: level, format: format)
        return Logger(label: "sluice")
    }

    /// For `watch` and `jobs run`: the data folder's `log-level` and `log-format`.
    static func logger(for location: DataLocation) throws -> Logger {
        do {
            let (level, format) = try choices(try location.settings())
            return logger(level: level, format: format)
        } catch let problem as Settings.Problem {
            throw CommandFailure(problem.description)
        }
    }

    /// `log-level` and `log-format`, checked.
    static func choices(_ settings: Settings) throws(Settings.Problem) -> (Logger.Level, LogFormat) {
        let levelName = settings.string("log-level")
        guard let level = Logger.Level(rawValue: levelName.lowercased()) else {
            throw Settings.Problem(description: "log level '\(levelName)' is not one of trace, debug, info, notice, warning, error, critical")
        }
        let formatName = settings.string("log-format")
        guard let format = LogFormat(rawValue: formatName.lowercased()) else {
            throw Settings.Problem(description: "log format '\(formatName)' is not text or json")
        }
        return (level, format)
    }
}

/// One JSON object per line on standard error. A whole line is one `write`, so lines
/// from several threads never interleave.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    init(label: String) {
        self.label = label
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var fields: [String: Any] = [:]
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        for (key, value) in merged { fields[key] = Self.json(value) }
        fields["time"] = Self.timestamp()
        fields["level"] = event.level.rawValue
        fields["message"] = event.message.description
        fields["logger"] = label
        guard var line = try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys, .withoutEscapingSlashes]) else {
            return
        }
        line.append(0x0A)
        line.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = write(STDERR_FILENO, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0, errno == EINTR { continue }
                guard written > 0 else { return }
                offset += written
            }
        }
    }

    static func json(_ value: Logger.Metadata.Value) -> Any {
        switch value {
        case .string(let text): return text
        case .stringConvertible(let convertible): return convertible.description
        case .array(let values): return values.map(json)
        case .dictionary(let entries): return entries.mapValues(json)
        }
    }

    /// RFC 3339 in UTC with milliseconds.
    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
                      Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), Int(now.tv_nsec / 1_000_000))
    }
}
