import CFFmpeg
import Dispatch
import Foundation

/// Runs one rung's scaling and encoding on its own serial queue, so the decoding thread
/// only decodes and hands out references to its pictures: every rung works at once, and
/// both cores stay busy. A few pictures may wait per rung; more, and the decoder waits.
final class RungWorker: @unchecked Sendable {
    // The encoder is touched only on `queue`; `failure` under `lock`.
    private let encoder: VideoRungEncoder
    private let queue: DispatchQueue
    private let room = DispatchSemaphore(value: 6)
    private let lock = NSLock()
    private var failure: TranscodeError?

    var rung: PlannedRung { encoder.rung }

    init(encoder: VideoRungEncoder) {
        self.encoder = encoder
        queue = DispatchQueue(label: "sluice.rung.\(encoder.rung.name)")
    }

    private func record(_ error: TranscodeError) {
        lock.lock()
        if failure == nil { failure = error }
        lock.unlock()
    }

    /// The first error this rung met, if any.
    var error: TranscodeError? {
        lock.lock()
        defer { lock.unlock() }
        return failure
    }

    /// Queues `picture` (referenced, not copied) as frame `index` of this rung.
    func encode(_ picture: UnsafeMutablePointer<AVFrame>, index: Int64, keyframe: Bool) throws(TranscodeError) {
        if let error { throw error }
        guard let reference = av_frame_clone(picture) else { throw TranscodeError("out of memory for a picture") }
        room.wait()
        let frame = FrameReference(frame: reference)
        queue.async { [self] in
            var owned: UnsafeMutablePointer<AVFrame>? = frame.frame
            defer {
                av_frame_free(&owned)
                room.signal()
            }
            guard self.error == nil else { return }
            do throws(TranscodeError) {
                try encoder.encode(frame.frame, index: index, keyframe: keyframe)
            } catch {
                record(error)
            }
        }
    }

    /// Waits for the queued pictures, then drains the encoder.
    func finish() throws(TranscodeError) {
        queue.sync {
            guard error == nil else { return }
            do throws(TranscodeError) {
                try encoder.flush()
            } catch {
                record(error)
            }
        }
        if let error { throw error }
    }

    /// Waits for what is queued, whatever became of it (before freeing on failure).
    func drain() {
        queue.sync {}
    }
}

/// A picture reference handed from the decoding thread to a rung's queue, which frees it.
struct FrameReference: @unchecked Sendable {
    let frame: UnsafeMutablePointer<AVFrame>
}
