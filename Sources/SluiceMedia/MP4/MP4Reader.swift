/// Plays an MP4, F4V, M4V or MOV file as FLV tags: H.264 video and AAC or MP3 audio,
/// with `moov` before or after `mdat`.
///
/// The sample tables are flattened once per file version into one list in timestamp
/// order and kept in the shared cache; each session keeps only a position in it.
public final class MP4Reader: MediaReader {
    struct Sample: Sendable {
        var offset: Int64
        var size: UInt32
        /// Decode time, milliseconds.
        var timestamp: UInt32
        /// Composition offset, milliseconds (H.264 B-frames).
        var compositionOffset: Int32
        var track: UInt8
        var isSync: Bool
    }

    struct Track: Sendable {
        var isVideo: Bool
        /// The FLV tag body's leading bytes for this track's frames.
        var audioFlags: UInt8
        var sequenceHeader: MediaTag?
    }

    struct Movie: Sendable {
        var tracks: [Track]
        var samples: [Sample]
        /// Indexes into `samples` of the video sync samples (or, audio only, of every sample).
        var seekPoints: [Int]
        var metadata: AMFObject
        var duration: Double
    }

    private let movie: Movie
    /// One read-ahead window per track: samples alternate between the tracks' chunks,
    /// and one shared window would be refilled on every switch.
    private var readers: [WindowedFileReader]
    private var next = 0

    public var metadata: AMFObject { movie.metadata }
    public var duration: Double { movie.duration }
    public var sequenceHeaders: [MediaTag] { movie.tracks.compactMap(\.sequenceHeader) }
    /// Samples are in timestamp order.
    public var lastMediaTimestamp: UInt32? { movie.samples.last?.timestamp }

    /// The largest `moov` accepted, against hostile sizes (a two-hour film has a few MB).
    static let maximumMovieBoxSize: Int64 = 256 * 1024 * 1024

    public init(file: MediaFile, cache: MediaIndexCache) throws(MediaFormatError) {
        let movie = try cache.index(for: file.identity) { () throws(MediaFormatError) -> Movie in
            try Self.parse(file)
        }
        self.movie = movie
        self.readers = movie.tracks.map { _ in WindowedFileReader(file: file) }
    }

    public func seek(to milliseconds: UInt32) throws(MediaFormatError) -> UInt32 {
        var low = 0, high = movie.seekPoints.count
        while low < high {
            let middle = (low + high) / 2
            if movie.samples[movie.seekPoints[middle]].timestamp <= milliseconds { low = middle + 1 } else { high = middle }
        }
        guard low > 0 else {
            next = 0
            return 0
        }
        next = movie.seekPoints[low - 1]
        return movie.samples[next].timestamp
    }

    public func keyframe(atOrAfter milliseconds: UInt32) -> UInt32? {
        var low = 0, high = movie.seekPoints.count
        while low < high {
            let middle = (low + high) / 2
            if movie.samples[movie.seekPoints[middle]].timestamp < milliseconds { low = middle + 1 } else { high = middle }
        }
        return low < movie.seekPoints.count ? movie.samples[movie.seekPoints[low]].timestamp : nil
    }

    public func nextTag() throws(MediaFormatError) -> MediaTag? {
        guard next < movie.samples.count else { return nil }
        let sample = movie.samples[next]
        next += 1
        let track = movie.tracks[Int(sample.track)]
        let data = try readers[Int(sample.track)].read(at: sample.offset, count: Int(sample.size))
        var payload: [UInt8]
        if track.isVideo {
            let cts = UInt32(bitPattern: sample.compositionOffset)
            payload = [sample.isSync ? 0x17 : 0x27, 0x01,
                       UInt8(truncatingIfNeeded: cts >> 16), UInt8(truncatingIfNeeded: cts >> 8), UInt8(truncatingIfNeeded: cts)]
            payload.reserveCapacity(5 + data.count)
        } else if track.audioFlags >> 4 == AudioCodecID.aac.rawValue {
            payload = [track.audioFlags, 0x01]
            payload.reserveCapacity(2 + data.count)
        } else {
            payload = [track.audioFlags]
            payload.reserveCapacity(1 + data.count)
        }
        payload.append(contentsOf: data)
        return MediaTag(type: track.isVideo ? .video : .audio, timestamp: sample.timestamp, payload: payload)
    }

    // MARK: Parsing

    static func parse(_ file: MediaFile) throws(MediaFormatError) -> Movie {
        var offset: Int64 = 0
        var moov: [UInt8]?
        var sawFragment = false
        var firstBox = true
        while offset + 8 <= file.size {
            let header = try file.read(at: offset, count: 8)
            var reader = ByteReader(header)
            var size = Int64(try reader.readUInt32())
            let type = MP4Box.fourCC(try reader.readBytes(4))
            var headerSize: Int64 = 8
            if size == 1 {
                var large = ByteReader(try file.read(at: offset + 8, count: 8))
                size = Int64(bitPattern: try large.readUInt64())
                headerSize = 16
            } else if size == 0 {
                size = file.size - offset
            }
            if firstBox {
                guard ["ftyp", "moov", "mdat", "free", "skip", "wide", "pnot", "uuid", "styp"].contains(type) else {
                    throw .invalid("not an MP4 file (first box is '\(type)')")
                }
                firstBox = false
            }
            guard size >= headerSize, offset + size <= file.size || type == "mdat" else {
                throw .invalid("MP4 box '\(type)' at \(offset) runs past the end of the file")
            }
            if type == "moov" {
                guard size - headerSize <= maximumMovieBoxSize else { throw .unsupported("moov box of \(size) bytes") }
                moov = try file.read(at: offset + headerSize, count: Int(size - headerSize))
            } else if type == "moof" {
                sawFragment = true
            }
            offset += size
        }
        guard let moov else {
            throw .invalid(sawFragment ? "fragmented MP4 is not supported" : "no moov box: the MP4 file is incomplete")
        }
        return try parseMovie(moov, fileSize: file.size)
    }

    static func parseMovie(_ moov: [UInt8], fileSize: Int64) throws(MediaFormatError) -> Movie {
        let boxes = try MP4Box.children(of: ByteReader(moov))
        var movieDuration = 0.0
        var movieTimescale: UInt32 = 0
        if var mvhd = boxes.first("mvhd")?.body {
            let version = try mvhd.readUInt8()
            try mvhd.skip(3 + (version == 1 ? 16 : 8))
            let timescale = try mvhd.readUInt32()
            let duration = version == 1 ? try mvhd.readUInt64() : UInt64(try mvhd.readUInt32())
            if timescale > 0 { movieDuration = Double(duration) / Double(timescale) }
            movieTimescale = timescale
        }

        var tracks: [Track] = []
        var parsedTracks: [ParsedTrack] = []
        var metadata = AMFObject()
        var hasVideo = false, hasAudio = false
        var videoBytes = 0, audioBytes = 0
        for trak in boxes where trak.type == "trak" {
            guard var parsed = try parseTrack(trak, trackNumber: UInt8(tracks.count), fileSize: fileSize, movieTimescale: movieTimescale) else { continue }
            if parsed.track.isVideo ? hasVideo : hasAudio { continue }  // the first of each kind plays
            parsed.samples.removeAll { $0.offset < 0 || $0.offset > fileSize - Int64($0.size) }  // no sum: it could overflow
            if parsed.track.isVideo {
                hasVideo = true
                videoBytes = parsed.samples.reduce(0) { $0 + Int($1.size) }
                metadata["width"] = .number(Double(parsed.width))
                metadata["height"] = .number(Double(parsed.height))
                metadata["videocodecid"] = .number(Double(VideoCodecID.avc.rawValue))
                if parsed.duration > 0, parsed.samples.count > 1 {
                    metadata["framerate"] = .number((Double(parsed.samples.count) / parsed.duration * 100).rounded() / 100)
                }
            } else {
                hasAudio = true
                audioBytes = parsed.samples.reduce(0) { $0 + Int($1.size) }
                metadata["audiocodecid"] = .number(Double(parsed.track.audioFlags >> 4))
                metadata["audiosamplerate"] = .number(Double(parsed.sampleRate))
                metadata["audiochannels"] = .number(Double(parsed.channels))
                metadata["stereo"] = .boolean(parsed.channels > 1)
            }
            movieDuration = max(movieDuration, parsed.duration)
            tracks.append(parsed.track)
            parsedTracks.append(parsed)
        }
        guard !tracks.isEmpty else { throw .unsupported("no H.264, AAC or MP3 track in this MP4 file") }
        var samples = alignedOnTheMovieTimeline(parsedTracks)

        // One timeline: by time, then by file position, as an interleaving muxer would.
        samples.sort { ($0.timestamp, $0.offset) < ($1.timestamp, $1.offset) }
        var seekPoints: [Int] = []
        for (index, sample) in samples.enumerated() where hasVideo ? (tracks[Int(sample.track)].isVideo && sample.isSync) : true {
            seekPoints.append(index)
        }

        var ordered = AMFObject()
        ordered["duration"] = .number(movieDuration)
        for member in metadata { ordered[member.key] = member.value }
        if movieDuration > 0 {
            if videoBytes > 0 { ordered["videodatarate"] = .number(Double(videoBytes) * 8 / 1000 / movieDuration) }
            if audioBytes > 0 { ordered["audiodatarate"] = .number(Double(audioBytes) * 8 / 1000 / movieDuration) }
        }
        ordered["hasVideo"] = .boolean(hasVideo)
        ordered["hasAudio"] = .boolean(hasAudio)
        ordered["canSeekToEnd"] = .boolean(true)
        return Movie(tracks: tracks, samples: samples, seekPoints: seekPoints, metadata: ordered, duration: movieDuration)
    }

    struct ParsedTrack {
        var track: Track
        var samples: [Sample]
        var duration: Double
        var width = 0
        var height = 0
        var sampleRate = 0
        /// Where the media begins on the movie's timeline, milliseconds (see `editOffset`).
        var editOffset = 0.0
        var channels = 0
    }

    static func parseTrack(_ trak: MP4Box, trackNumber: UInt8, fileSize: Int64, movieTimescale: UInt32) throws(MediaFormatError) -> ParsedTrack? {
        let trakChildren = try MP4Box.children(of: trak.body)
        guard let mdia = trakChildren.first("mdia") else { return nil }
        let mdiaChildren = try MP4Box.children(of: mdia.body)
        guard var mdhd = mdiaChildren.first("mdhd")?.body, var hdlr = mdiaChildren.first("hdlr")?.body,
              let minf = mdiaChildren.first("minf"),
              let stbl = try MP4Box.children(of: minf.body).first("stbl")
        else { return nil }
        let mdhdVersion = try mdhd.readUInt8()
        try mdhd.skip(3 + (mdhdVersion == 1 ? 16 : 8))
        let timescale = try mdhd.readUInt32()
        let mediaDuration = mdhdVersion == 1 ? try mdhd.readUInt64() : UInt64(try mdhd.readUInt32())
        guard timescale > 0 else { throw .invalid("MP4 track with a zero timescale") }
        try hdlr.skip(8)
        let handler = MP4Box.fourCC(try hdlr.readBytes(4))
        guard handler == "vide" || handler == "soun" else { return nil }

        let tables = try MP4Box.children(of: stbl.body)
        guard var stsd = tables.first("stsd")?.body else { return nil }
        try stsd.skip(8)  // version, flags, entry count: the first entry describes the track
        guard stsd.remaining >= 8 else { return nil }
        let entrySize = Int(try stsd.readUInt32())
        let format = MP4Box.fourCC(try stsd.readBytes(4))
        guard entrySize >= 8 else { throw .invalid("MP4 sample description too small") }
        var entry = try stsd.subReader(min(entrySize - 8, stsd.remaining))

        var result: ParsedTrack
        if handler == "vide" {
            guard format == "avc1" || format == "avc3" else { return nil }
            try entry.skip(24)
            let width = Int(try entry.readUInt16())
            let height = Int(try entry.readUInt16())
            try entry.skip(50)
            guard let avcC = try MP4Box.children(of: entry).first("avcC") else {
                throw .invalid("H.264 track without an avcC box")
            }
            var config = avcC.body
            let record = try config.readBytes(config.remaining)
            let header = MediaTag(type: .video, timestamp: 0, payload: [0x17, 0x00, 0, 0, 0] + record)
            result = ParsedTrack(track: Track(isVideo: true, audioFlags: 0, sequenceHeader: header), samples: [], duration: 0)
            if let size = AVCSequenceParameterSet.dimensions(fromDecoderConfiguration: record) {
                result.width = size.width
                result.height = size.height
            } else {
                result.width = width
                result.height = height
            }
        } else {
            guard format == "mp4a" || format == ".mp3" else { return nil }
            try entry.skip(8)
            let soundVersion = try entry.readUInt16()
            try entry.skip(6)
            let channels = Int(try entry.readUInt16())
            try entry.skip(6)
            var sampleRate = Int(try entry.readUInt32() >> 16)
            // QuickTime sound descriptions v1 and v2 carry extra fields before the children.
            if soundVersion == 1 { try entry.skip(16) } else if soundVersion == 2 { try entry.skip(36) }
            var objectType: UInt8 = format == ".mp3" ? 0x6B : 0x40
            var audioSpecificConfig: [UInt8] = []
            if format == "mp4a" {
                let children = try MP4Box.children(of: entry)
                var esdsBody = children.first("esds")?.body
                if esdsBody == nil, let wave = children.first("wave") {
                    // QuickTime wraps the esds of a .mov in a 'wave' box.
                    esdsBody = try MP4Box.children(of: wave.body).first("esds")?.body
                }
                guard var esds = esdsBody else { throw .invalid("AAC track without an esds box") }
                try esds.skip(4)
                (objectType, audioSpecificConfig) = try parseElementaryStreamDescriptor(&esds)
            }
            if objectType == 0x40 || objectType == 0x66 || objectType == 0x67 || objectType == 0x68 {
                guard !audioSpecificConfig.isEmpty else { throw .invalid("AAC track without an AudioSpecificConfig") }
                if sampleRate == 0 { sampleRate = Int(timescale) }
                let header = MediaTag(type: .audio, timestamp: 0, payload: [0xAF, 0x00] + audioSpecificConfig)
                result = ParsedTrack(track: Track(isVideo: false, audioFlags: 0xAF, sequenceHeader: header), samples: [], duration: 0)
            } else if objectType == 0x6B || objectType == 0x69 {
                let flags = MP3Reader.flvAudioFlags(sampleRate: sampleRate, stereo: channels > 1)
                result = ParsedTrack(track: Track(isVideo: false, audioFlags: flags, sequenceHeader: nil), samples: [], duration: 0)
            } else {
                return nil
            }
            result.sampleRate = sampleRate
            result.channels = channels
        }
        result.duration = Double(mediaDuration) / Double(timescale)
        result.samples = try sampleTable(tables, timescale: timescale, track: trackNumber, isVideo: handler == "vide", fileSize: fileSize)
        result.editOffset = editOffset(trakChildren, movieTimescale: movieTimescale, mediaTimescale: timescale)
        if result.duration == 0, let last = result.samples.last { result.duration = Double(last.timestamp) / 1000 }
        return result
    }

    /// ES_Descriptor → DecoderConfigDescriptor (object type) → DecoderSpecificInfo (ISO 14496-1 7.2.6).
    static func parseElementaryStreamDescriptor(_ reader: inout ByteReader) throws(MediaFormatError) -> (UInt8, [UInt8]) {
        func readDescriptor(_ reader: inout ByteReader) throws(MediaFormatError) -> (UInt8, ByteReader) {
            let tag = try reader.readUInt8()
            var length = 0
            for _ in 0..<4 {
                let byte = try reader.readUInt8()
                length = length << 7 | Int(byte & 0x7F)
                if byte & 0x80 == 0 { break }
            }
            return (tag, try reader.subReader(min(length, reader.remaining)))
        }
        var (tag, es) = try readDescriptor(&reader)
        guard tag == 3 else { throw .invalid("esds without an ES descriptor") }
        try es.skip(2)
        let flags = try es.readUInt8()
        if flags & 0x80 != 0 { try es.skip(2) }
        if flags & 0x40 != 0 { try es.skip(Int(try es.readUInt8())) }
        if flags & 0x20 != 0 { try es.skip(2) }
        var config: ByteReader
        (tag, config) = try readDescriptor(&es)
        guard tag == 4 else { throw .invalid("esds without a decoder configuration") }
        let objectType = try config.readUInt8()
        try config.skip(12)
        guard config.remaining > 0 else { return (objectType, []) }
        let (specificTag, specific) = try readDescriptor(&config)
        guard specificTag == 5 else { return (objectType, []) }
        var info = specific
        return (objectType, try info.readBytes(info.remaining))
    }

    /// `time` in `timescale` units as milliseconds, wrapped to 32 bits as FLV timestamps
    /// are; in full width, since time × 1000 can pass 2^64.
    static func milliseconds(_ time: UInt64, timescale: UInt32) -> UInt32 {
        let product = time.multipliedFullWidth(by: 1000)
        guard product.high < UInt64(timescale) else { return .max }
        return UInt32(truncatingIfNeeded: UInt64(timescale).dividingFullWidth(product).quotient)
    }

    /// Expands stts/ctts/stss/stsc/stsz/stco into one record per sample.
    ///
    /// Every count in these tables comes from the file: each loop stops at what the file
    /// can hold (a sample takes at least a byte of it), so a few kilobytes cannot ask for
    /// billions of iterations or gigabytes of samples.
    static func sampleTable(_ tables: [MP4Box], timescale: UInt32, track: UInt8, isVideo: Bool,
                            fileSize: Int64) throws(MediaFormatError) -> [Sample] {
        // Sizes.
        var sizes: [UInt32] = []
        if var stsz = tables.first("stsz")?.body {
            try stsz.skip(4)
            let uniform = try stsz.readUInt32()
            let count = Int(try stsz.readUInt32())
            if uniform != 0 {
                guard count <= 50_000_000, Int64(count) * Int64(uniform) <= fileSize else {
                    throw .invalid("MP4 sample count \(count) of \(uniform) bytes is more than the file holds")
                }
                sizes = Array(repeating: uniform, count: count)
            } else {
                guard count * 4 <= stsz.remaining else { throw .truncated(needed: count * 4, available: stsz.remaining) }
                sizes.reserveCapacity(count)
                for _ in 0..<count { sizes.append(try stsz.readUInt32()) }
            }
        } else if var stz2 = tables.first("stz2")?.body {
            try stz2.skip(7)
            let fieldSize = try stz2.readUInt8()
            let count = Int(try stz2.readUInt32())
            guard [4, 8, 16].contains(fieldSize), count * Int(fieldSize) / 8 <= stz2.remaining else { throw .invalid("bad stz2 box") }
            var nibble: UInt8 = 0
            for index in 0..<count {
                switch fieldSize {
                case 4:
                    if index % 2 == 0 { nibble = try stz2.readUInt8(); sizes.append(UInt32(nibble >> 4)) } else { sizes.append(UInt32(nibble & 0x0F)) }
                case 8: sizes.append(UInt32(try stz2.readUInt8()))
                default: sizes.append(UInt32(try stz2.readUInt16()))
                }
            }
        } else {
            throw .invalid("MP4 track without sample sizes")
        }
        let count = sizes.count

        // Chunk offsets.
        var chunkOffsets: [Int64] = []
        if var stco = tables.first("stco")?.body {
            try stco.skip(4)
            let chunks = Int(try stco.readUInt32())
            guard chunks * 4 <= stco.remaining else { throw .truncated(needed: chunks * 4, available: stco.remaining) }
            for _ in 0..<chunks { chunkOffsets.append(Int64(try stco.readUInt32())) }
        } else if var co64 = tables.first("co64")?.body {
            try co64.skip(4)
            let chunks = Int(try co64.readUInt32())
            guard chunks * 8 <= co64.remaining else { throw .truncated(needed: chunks * 8, available: co64.remaining) }
            for _ in 0..<chunks { chunkOffsets.append(Int64(bitPattern: try co64.readUInt64())) }
        } else {
            throw .invalid("MP4 track without chunk offsets")
        }

        // Sample-to-chunk runs.
        guard var stsc = tables.first("stsc")?.body else { throw .invalid("MP4 track without stsc") }
        try stsc.skip(4)
        let runCount = Int(try stsc.readUInt32())
        guard runCount * 12 <= stsc.remaining else { throw .truncated(needed: runCount * 12, available: stsc.remaining) }
        var runs: [(firstChunk: Int, samplesPerChunk: Int)] = []
        for _ in 0..<runCount {
            let first = Int(try stsc.readUInt32())
            let perChunk = Int(try stsc.readUInt32())
            try stsc.skip(4)
            runs.append((first, perChunk))
        }

        var samples: [Sample] = []
        samples.reserveCapacity(count)
        var sampleIndex = 0
        for (runIndex, run) in runs.enumerated() where sampleIndex < count {
            let lastChunk = runIndex + 1 < runs.count ? runs[runIndex + 1].firstChunk - 1 : chunkOffsets.count
            guard run.firstChunk >= 1, run.samplesPerChunk > 0 else { continue }
            var chunk = run.firstChunk
            while chunk <= lastChunk, chunk <= chunkOffsets.count, sampleIndex < count {
                var offset = chunkOffsets[chunk - 1]
                for _ in 0..<min(run.samplesPerChunk, count - sampleIndex) {
                    samples.append(Sample(offset: offset, size: sizes[sampleIndex], timestamp: 0, compositionOffset: 0, track: track, isSync: !isVideo))
                    // Wrapping: an offset past the file (co64 allows 2^63) fails when read.
                    offset &+= Int64(sizes[sampleIndex])
                    sampleIndex += 1
                }
                chunk += 1
            }
        }

        // Decode times.
        if var stts = tables.first("stts")?.body {
            try stts.skip(4)
            let entries = Int(try stts.readUInt32())
            var time: UInt64 = 0
            var index = 0
            for _ in 0..<entries {
                guard stts.remaining >= 8, index < samples.count else { break }
                let runLength = Int(try stts.readUInt32())
                let delta = UInt64(try stts.readUInt32())
                for _ in 0..<min(runLength, samples.count - index) {
                    samples[index].timestamp = milliseconds(time, timescale: timescale)
                    time &+= delta
                    index += 1
                }
            }
        }
        // Composition offsets.
        if var ctts = tables.first("ctts")?.body {
            try ctts.skip(4)
            let entries = Int(try ctts.readUInt32())
            var index = 0
            for _ in 0..<entries {
                guard ctts.remaining >= 8, index < samples.count else { break }
                let runLength = Int(try ctts.readUInt32())
                let offset = Int64(try ctts.readInt32())  // version 0 is unsigned, but no real offset reaches 2^31
                let milliseconds = Int32(clamping: offset * 1000 / Int64(timescale))
                for _ in 0..<min(runLength, samples.count - index) {
                    samples[index].compositionOffset = milliseconds
                    index += 1
                }
            }
        }
        // Sync samples: without stss every sample is a sync sample.
        if isVideo {
            if var stss = tables.first("stss")?.body {
                try stss.skip(4)
                let entries = Int(try stss.readUInt32())
                for _ in 0..<entries {
                    guard stss.remaining >= 4 else { break }
                    let number = Int(try stss.readUInt32())
                    if number >= 1, number <= samples.count { samples[number - 1].isSync = true }
                }
            } else {
                for index in samples.indices { samples[index].isSync = true }
            }
        }
        return samples
    }
}
