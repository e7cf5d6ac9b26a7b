/// Why a piece of media or an AMF value could not be read.
public enum MediaFormatError: Error, Equatable, Sendable, CustomStringConvertible {
    case truncated(needed: Int, available: Int)
    case invalid(String)
    case unsupported(String)
    case io(String)

    public var description: String {
        switch self {
        case .truncated(let needed, let available):
            return "data ends early (needed \(needed) bytes, \(available) left)"
        case .invalid(let reason): return reason
        case .unsupported(let reason): return "unsupported: \(reason)"
        case .io(let reason): return "read error: \(reason)"
        }
    }
}
