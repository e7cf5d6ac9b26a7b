/// Edit lists: where each track's media sits on the movie's timeline.
extension MP4Reader {
    /// Every track's samples on the movie's timeline, as the edit lists place them (an
    /// encoder's priming, a B-frame delay), shifted as one so that none is negative: the
    /// same shift Sluice's FLV renditions carry, so an MP4 and an FLV rendition of one
    /// ladder have their keyframes at the same times, and audio and video stay in sync.
    static func alignedOnTheMovieTimeline(_ tracks: [ParsedTrack]) -> [Sample] {
        let shift = max(0, tracks.map { -$0.editOffset }.max() ?? 0).rounded(.up)
        var samples: [Sample] = []
        samples.reserveCapacity(tracks.reduce(0) { $0 + $1.samples.count })
        for track in tracks {
            let offset = Int64((track.editOffset + shift).rounded())
            for var sample in track.samples {
                sample.timestamp = UInt32(clamping: Int64(sample.timestamp) + offset)
                samples.append(sample)
            }
        }
        return samples
    }

    /// Where a track's media begins on the movie's timeline, in milliseconds: leading empty
    /// edits delay it, the first real edit's media time skips into it. Bounded to an hour
    /// either way: an edit list is outside input too.
    static func editOffset(_ trakChildren: [MP4Box], movieTimescale: UInt32, mediaTimescale: UInt32) -> Double {
        guard movieTimescale > 0, mediaTimescale > 0, let edts = try? MP4Box.children(of: trakChildren.first("edts")?.body ?? ByteReader([])),
              var elst = edts.first("elst")?.body,
              let version = try? elst.readUInt8(), (try? elst.skip(3)) != nil, let count = try? elst.readUInt32()
        else { return 0 }
        var empty = 0.0
        for _ in 0..<min(count, 16) {
            let duration: Double, mediaTime: Double
            if version == 1 {
                guard let d = try? elst.readUInt64(), let t = try? elst.readUInt64() else { return 0 }
                duration = Double(d)
                mediaTime = Double(Int64(bitPattern: t))
            } else {
                guard let d = try? elst.readUInt32(), let t = try? elst.readInt32() else { return 0 }
                duration = Double(d)
                mediaTime = Double(t)
            }
            guard (try? elst.skip(4)) != nil else { return 0 }  // rate
            if mediaTime == -1 {
                empty += duration * 1000 / Double(movieTimescale)
                continue
            }
            let offset = empty - mediaTime * 1000 / Double(mediaTimescale)
            return offset.isFinite ? min(max(offset, -3_600_000), 3_600_000) : 0
        }
        return 0
    }
}
