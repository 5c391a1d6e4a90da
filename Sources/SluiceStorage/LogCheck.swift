import SluiceCore

#if canImport(Glibc)
internal import Glibc
#endif

/// A damage-tolerant pass over one segment: every frame verified (header, payload checksum,
/// decompression, records), damage stepped over (``SegmentReader/resynchronize(after:)``) and reported.
struct SegmentScan {
    /// Verified frames with consecutive sequences, in file order.
    struct Run {
        var firstSequence: UInt64
        var endSequence: UInt64
        /// Byte ranges of the frames (header and stored payload) in the segment file.
        var frames: [Range<UInt64>] = []
    }

    var path: String
    var header: SegmentHeader
    var headerIntact: Bool
    var runs: [Run] = []
    /// Damage found inside the segment, in file order (the ``tail`` excluded).
    var incidents: [LogIncident] = []
    /// Damage at the end of the newest segment that no valid frame follows (a torn tail, or damage whose
    /// extent is unknown): its sequences come back with the next append, so a repair does not record them.
    var tail: LogIncident?
    /// The sequence after the last verified frame, or after the damage when its end is known.
    var endSequence: UInt64
    var frameCount = 0
    var recordCount = 0
    var byteCount: UInt64

    var isClean: Bool {
        headerIntact && incidents.isEmpty && tail == nil && runs.count <= 1
            && (runs.first?.firstSequence ?? header.firstSequence) == header.firstSequence
    }

    /// Scans `path`, named for `nameFirstSequence`. `nextSegmentFirstSequence` is `nil` for the newest
    /// segment. `pace` is called with the bytes of each verified frame (a background scrub sleeps there);
    /// the scan ends early when `shouldStop` says so.
    static func scan(
        path: String,
        nameFirstSequence: UInt64,
        nextSegmentFirstSequence: UInt64?,
        shouldStop: () -> Bool = { false },
        pace: (UInt64) -> Void = { _ in }
    ) throws(SegmentLogError) -> SegmentScan {
        let reader = try SegmentReader(path: path, toleratingDamagedHeader: nameFirstSequence)
        var scan = SegmentScan(
            path: path,
            header: reader.header,
            headerIntact: reader.headerDamage == nil,
            endSequence: reader.nextSequence,
            byteCount: reader.byteCount
        )
        scan.checkHeader(reader, nameFirstSequence: nameFirstSequence)
        var current: Run?
        frames: while !shouldStop() {
            switch try reader.nextFrame() {
            case .frame(let header, let fileOffset):
                let frameBytes = fileOffset..<(fileOffset + UInt64(FrameHeader.byteCount + Int(header.storedByteCount)))
                let sequences = header.firstSequence..<(header.firstSequence + UInt64(header.recordCount))
                do {
                    try unsafe reader.forEachRecord(of: header, at: fileOffset) { _, _ in }
                } catch {
                    if let run = current { scan.runs.append(run) }
                    current = nil
                    scan.incidents.append(
                        LogIncident(
                            kind: .damagedFrame,
                            path: path,
                            fileOffset: fileOffset,
                            byteCount: UInt64(frameBytes.count),
                            sequences: sequences,
                            detail: error.format.map { "\($0)" } ?? error.message
                        )
                    )
                    continue frames
                }
                if current == nil || current?.endSequence != sequences.lowerBound {
                    if let run = current { scan.runs.append(run) }
                    current = Run(firstSequence: sequences.lowerBound, endSequence: sequences.lowerBound)
                }
                current?.endSequence = sequences.upperBound
                current?.frames.append(frameBytes)
                scan.frameCount += 1
                scan.recordCount += sequences.count
                pace(UInt64(frameBytes.count))
            case .end:
                break frames
            case .invalid(let fileOffset, let error, let reachesEnd):
                if let run = current { scan.runs.append(run) }
                current = nil
                try scan.stepOver(
                    reader,
                    fileOffset: fileOffset,
                    error: error,
                    reachesEnd: reachesEnd,
                    nextSegmentFirstSequence: nextSegmentFirstSequence
                )
                if scan.tail != nil { break frames }
            }
        }
        if let run = current { scan.runs.append(run) }
        scan.endSequence = max(scan.endSequence, reader.nextSequence)
        return scan
    }

    /// Records a segment header that does not verify, or whose first sequence disagrees with the name.
    private mutating func checkHeader(_ reader: SegmentReader, nameFirstSequence: UInt64) {
        if let damage = reader.headerDamage {
            incidents.append(
                LogIncident(
                    kind: .damagedSegmentHeader,
                    path: path,
                    fileOffset: 0,
                    byteCount: UInt64(SegmentHeader.byteCount),
                    detail: damage.format.map { "\($0)" } ?? damage.message
                )
            )
        } else if reader.header.firstSequence != nameFirstSequence {
            headerIntact = false
            incidents.append(
                LogIncident(
                    kind: .damagedSegmentHeader,
                    path: path,
                    fileOffset: 16,
                    byteCount: UInt64(SegmentHeader.byteCount),
                    detail: "the header says first sequence \(reader.header.firstSequence), the name says "
                        + "\(nameFirstSequence)"
                )
            )
        }
    }

    /// Steps over the damage at `fileOffset` (``SegmentReader/resynchronize(after:)``) and records it: in
    /// ``incidents`` when a valid frame or the next segment bounds it, else as the newest segment's ``tail``.
    private mutating func stepOver(
        _ reader: SegmentReader,
        fileOffset: UInt64,
        error: FormatError,
        reachesEnd: Bool,
        nextSegmentFirstSequence: UInt64?
    ) throws(SegmentLogError) {
        let before = reader.nextSequence
        let resumed = try reader.resynchronize(after: fileOffset)
        var incident = LogIncident(
            kind: .damagedFrame,
            path: path,
            fileOffset: fileOffset,
            byteCount: (resumed ?? reader.byteCount) - fileOffset,
            detail: "\(error)"
        )
        if resumed != nil {
            incident.sequences = before..<reader.nextSequence
        } else if let next = nextSegmentFirstSequence {
            incident.sequences = before..<max(before, next)
            endSequence = max(endSequence, next)
        } else {
            // The newest segment's end: what the damaged bytes held is known only when the frame header
            // at the damage is intact.
            if let count = try Self.intactRecordCount(reader.path, fileOffset: fileOffset) {
                incident.sequences = before..<(before + UInt64(count))
            } else {
                incident.sequencesFrom = before
            }
            if reachesEnd { incident.detail += "; a torn tail: opening the log for writing truncates it" }
            tail = incident
            return
        }
        incidents.append(incident)
    }

    /// The record count of the frame header at `fileOffset` when it verifies.
    private static func intactRecordCount(_ path: String, fileOffset: UInt64) throws(SegmentLogError) -> Int? {
        let file = try FileDescriptor(path: path, flags: O_RDONLY)
        var bytes = [UInt8](repeating: 0, count: FrameHeader.byteCount)
        guard try file.read(into: &bytes, count: bytes.count, fileOffset: fileOffset) == bytes.count else { return nil }
        do {
            return Int(try FrameHeader.decode(bytes, fileOffset: fileOffset).recordCount)
        } catch {
            return nil  // damaged header: the count is unknown, which the incident says
        }
    }
}

/// What a verification or scrub of a log found.
public struct LogCheckReport: Sendable, Equatable {
    public var segmentCount = 0
    public var frameCount = 0
    public var recordCount = 0
    public var byteCount: UInt64 = 0
    /// Damage and notes (recorded losses), in log order.
    public var incidents: [LogIncident] = []
    /// `true` when the check was stopped before it finished (``LogCheck/run(directory:sealedOnly:shouldStop:pace:onIncident:)``).
    public var stopped = false

    /// The incidents that are damage (not notes).
    public var damage: [LogIncident] { incidents.filter(\.isDamage) }
}

/// Verification of a whole log (`sluice log verify`) and scrubs of its sealed segments (`sluice log
/// scrub`, the pipeline's background scrub): every frame's checksums, decompression and records, every
/// segment header, and gap-free sequences between segments (a gap recorded by a repair in
/// `lost-sequences.txt` is a note, not damage). Unlike a read, a check does not stop at the first damage:
/// it steps over it and reports every damaged range with its file, offsets and sequences.
public enum LogCheck {
    /// Checks the segments of `directory` — all of them, or with `sealedOnly` every one but the newest
    /// (which a running writer appends to). A segment removed while the check runs (retention) is skipped.
    /// - Parameters:
    ///   - shouldStop: asked between frames; `true` ends the check early (``LogCheckReport/stopped``).
    ///   - pace: called with the byte count of each verified frame (a background scrub sleeps here).
    ///   - onIncident: called with each incident as it is found.
    /// - Throws: `ioFailed` when a file cannot be read; `corrupt` for an unreadable `lost-sequences.txt`.
    public static func run(
        directory: String,
        sealedOnly: Bool,
        shouldStop: () -> Bool = { false },
        pace: (UInt64) -> Void = { _ in },
        onIncident: (LogIncident) -> Void = { _ in }
    ) throws(SegmentLogError) -> LogCheckReport {
        var report = LogCheckReport()
        var lost: LostSequences? = try LostSequences.load(directory: directory)
        let segments = try SegmentDirectory.segments(in: directory)
        let checked = sealedOnly ? Array(segments.dropLast()) : segments
        var previous: (end: UInt64, path: String)?
        func add(_ incident: LogIncident) {
            report.incidents.append(incident)
            onIncident(incident)
        }
        // Every recorded loss is a note, also one before the first segment (which looks like retention).
        for entry in lost?.entries ?? [] {
            add(
                LogIncident(
                    kind: .recordedLoss,
                    path: LostSequences.path(in: directory),
                    sequences: entry.sequences,
                    detail: "line \(entry.line): \(entry.text)"
                )
            )
        }
        for (position, segment) in checked.enumerated() {
            if shouldStop() {
                report.stopped = true
                break
            }
            let path = directory + "/" + segment.name
            if let previous {
                let boundary = try SegmentBoundary.incidents(
                    previousEnd: previous.end,
                    previousPath: previous.path,
                    first: segment.firstSequence,
                    path: path,
                    directory: directory,
                    lost: &lost
                )
                // The recorded losses' notes were all added first.
                for incident in boundary where incident.isDamage { add(incident) }
            }
            let next = position + 1 < segments.count ? segments[position + 1].firstSequence : nil
            let scan: SegmentScan
            do {
                scan = try SegmentScan.scan(
                    path: path,
                    nameFirstSequence: segment.firstSequence,
                    nextSegmentFirstSequence: next,
                    shouldStop: shouldStop,
                    pace: pace
                )
            } catch  where error.code == .ioFailed && error.errno == ENOENT {
                previous = nil  // removed by retention since the listing
                continue
            }
            report.segmentCount += 1
            report.frameCount += scan.frameCount
            report.recordCount += scan.recordCount
            report.byteCount += scan.byteCount
            scan.incidents.forEach(add)
            if let tail = scan.tail { add(tail) }
            previous = (scan.endSequence, path)
        }
        if shouldStop() { report.stopped = true }
        return report
    }
}
