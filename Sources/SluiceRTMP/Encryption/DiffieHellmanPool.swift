import Dispatch
import Synchronization

/// Server key pairs made ahead of time, off the event loops. Making one is a 1024-bit
/// modular exponentiation (about 2.3 ms in a release build), and an RTMPE handshake needs
/// one before it can answer C1; on an event loop that time would hold up every other
/// connection on it. A handshake takes a pair made earlier, each pair serves one
/// connection only, and a background queue tops the pool up when it runs low. When a
/// burst empties it, the handshake makes its pair on the spot.
public final class DiffieHellmanPool: Sendable {
    public static let shared = DiffieHellmanPool(capacity: 64)

    private struct State {
        var pairs: [DiffieHellman] = []
        var refilling = false
    }

    private let capacity: Int
    private let state = Mutex(State())

    public init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// A fresh key pair: one made ahead when there is one.
    public func take() -> DiffieHellman {
        let (pair, refill) = state.withLock { state -> (DiffieHellman?, Bool) in
            let pair = state.pairs.popLast()
            guard !state.refilling, state.pairs.count < capacity / 2 else { return (pair, false) }
            state.refilling = true
            return (pair, true)
        }
        if refill { DispatchQueue.global(qos: .utility).async { self.refill() } }
        return pair ?? DiffieHellman()
    }

    /// Starts filling the pool (the RTMP server does as it starts listening).
    public func prefill() {
        let start = state.withLock { state -> Bool in
            guard !state.refilling, state.pairs.count < capacity else { return false }
            state.refilling = true
            return true
        }
        if start { DispatchQueue.global(qos: .utility).async { self.refill() } }
    }

    /// Pairs ready now.
    public var available: Int { state.withLock { $0.pairs.count } }

    private func refill() {
        while true {
            let pair = DiffieHellman()
            let full = state.withLock { state -> Bool in
                state.pairs.append(pair)
                guard state.pairs.count >= capacity else { return false }
                state.refilling = false
                return true
            }
            if full { return }
        }
    }
}
