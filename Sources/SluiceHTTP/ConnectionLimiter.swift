import Synchronization

/// Caps on open connections, in all and per peer address, so that one client (or a
/// flood of them) cannot take every descriptor the process has.
public final class ConnectionLimiter: Sendable {
    public enum Refusal: Equatable, Sendable, CustomStringConvertible {
        case total(Int)
        case perAddress(Int)

        public var description: String {
            switch self {
            case .total(let limit): return "\(limit) connections already open"
            case .perAddress(let limit): return "\(limit) connections already open from this address"
            }
        }
    }

    private struct State {
        var total = 0
        var perAddress: [String: Int] = [:]
    }

    public let maximum: Int
    public let maximumPerAddress: Int
    private let state = Mutex(State())

    public init(maximum: Int, maximumPerAddress: Int) {
        self.maximum = max(1, maximum)
        self.maximumPerAddress = max(1, maximumPerAddress)
    }

    public var count: Int { state.withLock { $0.total } }

    /// Admits a connection from `address` (its IP, without the port), or says why not.
    /// An admitted connection must be released exactly once.
    public func admit(_ address: String) -> Refusal? {
        state.withLock { state in
            guard state.total < maximum else { return .total(maximum) }
            let fromAddress = state.perAddress[address, default: 0]
            guard fromAddress < maximumPerAddress else { return .perAddress(maximumPerAddress) }
            state.total += 1
            state.perAddress[address] = fromAddress + 1
            return nil
        }
    }

    public func release(_ address: String) {
        state.withLock { state in
            state.total -= 1
            let left = state.perAddress[address, default: 1] - 1
            state.perAddress[address] = left > 0 ? left : nil
        }
    }
}
