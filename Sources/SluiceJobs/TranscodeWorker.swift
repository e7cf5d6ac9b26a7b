import Foundation

/// What the encoder process tells the runner, one JSON object per line on its standard
/// output. The runner never links libav: a job's probe, plan, encode and manifests run in
/// `sluice-transcode worker`, so a hostile upload that crashes libav fails that one job
/// instead of taking the RTMP server down with it, and `sluice serve` maps no libav.
public enum WorkerMessage: Codable, Equatable, Sendable {
    /// The ladder is planned: the encode starts.
    case planned(rungs: Int)
    case progress(fraction: Double, framesPerSecond: Double)
    /// Every output is written, under its final name in the work folder.
    case done(renditions: [String], manifests: [String])
    /// `transient`: a failure of the machine (a full disk, no memory), worth retrying.
    case failed(reason: String, transient: Bool)

    /// One line of the wire format, newline included.
    public var line: Data {
        var data = (try? JSONEncoder().encode(self)) ?? Data()
        data.append(0x0A)
        return data
    }
}

/// Where the runner's encoder lives and what it is asked to do.
public struct WorkerRequest: Sendable {
    public var input: String
    public var preset: String
    public var presetsFolder: String
    /// The asset's folder in the work folder; the worker creates it.
    public var folder: String
    public var asset: String
    public var baseURL: String
    public var streamPrefix: String

    public init(input: String, preset: String, presetsFolder: String, folder: String, asset: String, baseURL: String, streamPrefix: String) {
        self.input = input
        self.preset = preset
        self.presetsFolder = presetsFolder
        self.folder = folder
        self.asset = asset
        self.baseURL = baseURL
        self.streamPrefix = streamPrefix
    }

    public var arguments: [String] {
        ["worker", input, "--preset", preset, "--presets-dir", presetsFolder, "--folder", folder, "--asset", asset,
         "--base-url", baseURL, "--stream-prefix", streamPrefix]
    }
}

/// Runs one encode in the encoder process and relays its messages.
public enum TranscodeWorker {
    /// `SLUICE_TRANSCODER` when set, else `sluice-transcode` beside the running executable
    /// (both are built and installed together), else the one on PATH.
    public static func locate() -> String? {
        let manager = FileManager.default
        if let named = ProcessInfo.processInfo.environment["SLUICE_TRANSCODER"], !named.isEmpty {
            return manager.isExecutableFile(atPath: named) ? named : nil
        }
        let beside = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("sluice-transcode").path
        if manager.isExecutableFile(atPath: beside) { return beside }
        for folder in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let candidate = "\(folder)/sluice-transcode"
            if manager.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    public enum Outcome: Equatable, Sendable {
        case done(renditions: [String], manifests: [String])
        case failed(reason: String, transient: Bool)
        case cancelled
    }

    /// Starts the worker and blocks until it ends. `isCancelled` is asked at least twice
    /// a second; when it says yes the worker's standard input is closed (it stops at its
    /// next packet) and, if it lingers, it is killed.
    public static func run(_ executable: String, _ request: WorkerRequest, isCancelled: () -> Bool,
                           onMessage: (WorkerMessage) -> Void) -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = request.arguments
        let output = Pipe()
        let input = Pipe()
        process.standardOutput = output
        process.standardInput = input
        do {
            try process.run()
        } catch {
            return .failed(reason: "cannot start the encoder \(executable): \(error.localizedDescription)", transient: true)
        }
        // (Process closed the child's ends.) The worker reads its standard input only to
        // notice EOF: the runner closing it, or the runner dying (even by kill -9), stops
        // the encode.
        let descriptor = output.fileHandleForReading.fileDescriptor
        var pending = Data()
        var last: WorkerMessage?
        var cancelledAt: Date?
        var killed = false
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        let decoder = JSONDecoder()
        reading: while true {
            if cancelledAt == nil, isCancelled() {
                cancelledAt = Date()
                try? input.fileHandleForWriting.close()
            }
            if let cancelledAt, !killed, Date().timeIntervalSince(cancelledAt) > 5 {
                kill(process.processIdentifier, SIGKILL)
                killed = true
            }
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, 500)
            if ready < 0, errno == EINTR { continue }
            guard ready > 0 else { continue }
            let count = read(descriptor, &buffer, buffer.count)
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { break reading }
            pending.append(contentsOf: buffer[0..<count])
            while let newline = pending.firstIndex(of: 0x0A) {
                let line = pending[pending.startIndex..<newline]
                pending.removeSubrange(pending.startIndex...newline)
                guard let message = try? decoder.decode(WorkerMessage.self, from: line) else { continue }
                last = message
                onMessage(message)
            }
        }
        process.waitUntilExit()
        try? output.fileHandleForReading.close()
        guard cancelledAt == nil else { return .cancelled }
        try? input.fileHandleForWriting.close()
        switch last {
        case .done(let renditions, let manifests) where process.terminationReason == .exit && process.terminationStatus == 0:
            return .done(renditions: renditions, manifests: manifests)
        case .failed(let reason, let transient):
            return .failed(reason: reason, transient: transient)
        default:
            break
        }
        if process.terminationReason == .uncaughtSignal {
            let signal = process.terminationStatus
            if signal == SIGINT || signal == SIGTERM || signal == SIGHUP {
                // Someone stopped the encoder, not the input: worth another go.
                return .failed(reason: "the encoder was stopped (\(signalName(signal)))", transient: true)
            }
            let name = signal == SIGKILL ? "killed (SIGKILL; out of memory?)" : "crashed (\(signalName(signal)))"
            // A crash is the input's doing until shown otherwise: retrying would crash
            // again, so the job fails and the upload is kept for a look.
            return .failed(reason: "the encoder \(name) on this input", transient: signal == SIGKILL)
        }
        return .failed(reason: "the encoder exited with status \(process.terminationStatus) without a result", transient: false)
    }

    static func signalName(_ signal: Int32) -> String {
        let names: [Int32: String] = [SIGSEGV: "SIGSEGV", SIGBUS: "SIGBUS", SIGABRT: "SIGABRT", SIGILL: "SIGILL", SIGFPE: "SIGFPE",
                                      SIGTRAP: "SIGTRAP", SIGKILL: "SIGKILL", SIGTERM: "SIGTERM",
                                      SIGINT: "SIGINT", SIGHUP: "SIGHUP"]
        return names[signal] ?? "signal \(signal)"
    }
}
