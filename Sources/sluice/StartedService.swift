import ServiceLifecycle

/// A part of `sluice serve` that has started (its port bound, its thread running) as a
/// ServiceLifecycle service: it runs until the group's graceful shutdown reaches it, then
/// stops. Binding happens before the group runs, so a port in use fails the start with
/// its own message before anything says ready.
struct StartedService: Service, CustomStringConvertible {
    let description: String
    let stop: @Sendable () async -> Void

    init(_ name: String, stop: @escaping @Sendable () async -> Void) {
        description = name
        self.stop = stop
    }

    func run() async throws {
        // Returns when the shutdown reaches this service; throws if the group is
        // cancelled instead, and the service stops all the same.
        try? await gracefulShutdown()
        await stop()
    }
}
