import SluiceCore

#if canImport(Glibc)
internal import Glibc
#endif

/// What ``LogRepair/repair(directory:nowMicroseconds:)`` did.
public struct LogRepairReport: Sendable, Equatable {
    /// The quarantine folder damaged files were moved to (`nil` when nothing was damaged).
    public var quarantineFolder: String?
    /// Every damaged range found, file moved aside and segment written, in log order.
    public var incidents: [LogIncident] = []
    /// The sequences lost in this repair, in order, as recorded in `lost-sequences.txt`.
    public var lostSequences: [Range<UInt64>] = []
    /// Damage at the end of the newest segment (a torn tail): dropped, but not a gap — the next append
    /// takes its sequences — so it is not recorded in `lost-sequences.txt`.
    public var droppedTail: LogIncident?

    public var repairedAnything: Bool { !incidents.isEmpty }
}

/// `sluice log repair DIR`: makes a damaged log open and read again without deleting anything.
///
/// Every segment is checked as ``LogCheck`` does. A damaged one is replaced by the runs of verified frames
/// it still holds — each run copied byte for byte (the frames are unchanged) into a segment of its own,
/// named by its first sequence, so every segment stays gap-free inside — and the damaged file (and its
/// index) is moved into `DIR/quarantine/<time>/`. A newest segment torn inside its header is moved there
/// too. The sequences lost (damaged frames, missing segments) are appended to `lost-sequences.txt`, which
/// reads and verification honour as a known, reported gap (FORMAT.md). Needs the log's `writer.lock`: it
/// refuses a log a writer has open. Crash-safe: new segments are written as `*.repair.tmp` (ignored by
/// readers) and synced before the damaged file is moved aside; a crash in between leaves the damaged
/// segment in place (repair again) or in quarantine with its replacements complete.
public enum LogRepair {
    public static func repair(directory: String, nowMicroseconds: Int64) throws(SegmentLogError) -> LogRepairReport {
        let lock = try lockForRepair(directory)
        defer { withExtendedLifetime(lock) {} }
        var report = LogRepairReport()
        var quarantine = Quarantine(logDirectory: directory, nowMicroseconds: nowMicroseconds)
        let lost = try LostSequences.load(directory: directory)
        var newlyLost: [(sequences: Range<UInt64>, text: String)] = []
        let when = Timestamp(microsecondsSinceEpoch: nowMicroseconds).string(.prefect)
        let segments = try SegmentDirectory.segments(in: directory)
        var previous: (end: UInt64, path: String)?
        for (position, segment) in segments.enumerated() {
            let path = directory + "/" + segment.name
            let isNewest = position == segments.count - 1
            if isNewest, try isIncompleteSegment(path) {
                report.incidents.append(
                    try quarantineIncomplete(path, firstSequence: segment.firstSequence, quarantine: &quarantine)
                )
                continue
            }
            if let previous, segment.firstSequence > previous.end {
                let gap = previous.end..<segment.firstSequence
                if lost.covering(gap) == nil {
                    let what = "missing between \(previous.path) and \(path)"
                    newlyLost.append((gap, "\(when) \(what)"))
                    report.incidents.append(
                        LogIncident(kind: .missingSequences, path: path, fileOffset: 0, sequences: gap, detail: what)
                    )
                }
            }
            let next = isNewest ? nil : segments[position + 1].firstSequence
            let scan = try SegmentScan.scan(
                path: path,
                nameFirstSequence: segment.firstSequence,
                nextSegmentFirstSequence: next
            )
            previous = (scan.endSequence, path)
            guard !scan.isClean else { continue }
            let folder = try quarantine.folder()
            report.quarantineFolder = folder
            for incident in scan.incidents {
                report.incidents.append(incident)
                if let sequences = incident.sequences, !sequences.isEmpty {
                    let at = incident.fileOffset.map { " at file offset \($0)" } ?? ""
                    newlyLost.append((sequences, "\(when) \(path)\(at): \(incident.detail); kept in \(folder)"))
                }
            }
            if let tail = scan.tail {
                report.incidents.append(tail)
                report.droppedTail = tail
            }
            report.incidents += try replace(
                scan,
                isNewest: isNewest,
                nowMicroseconds: nowMicroseconds,
                quarantine: &quarantine
            )
        }
        report.lostSequences = newlyLost.map(\.sequences)
        try LostSequences.record(newlyLost, directory: directory)
        if report.quarantineFolder == nil, report.incidents.contains(where: { $0.destination != nil }) {
            report.quarantineFolder = try quarantine.folder()
        }
        return report
    }

    /// Writes the scan's runs as segments of their own, moves the damaged file aside, renames the new ones
    /// into place; returns the incidents (one move, one write per run).
    private static func replace(
        _ scan: SegmentScan,
        isNewest: Bool,
        nowMicroseconds: Int64,
        quarantine: inout Quarantine
    ) throws(SegmentLogError) -> [LogIncident] {
        let directory = quarantine.logDirectory
        let created = scan.headerIntact ? scan.header.createdMicroseconds : nowMicroseconds
        var runs = scan.runs.map { (first: $0.firstSequence, end: $0.endSequence, frames: $0.frames) }
        if runs.isEmpty && isNewest {
            // The newest segment keeps a (header-only) file, so the next append continues the numbering.
            runs.append((scan.endSequence, scan.endSequence, []))
        }
        let source = try FileDescriptor(path: scan.path, flags: O_RDONLY)
        var written: [(temporary: String, final: String, run: (first: UInt64, end: UInt64), byteCount: UInt64)] = []
        for run in runs {
            let final = directory + "/" + SegmentFileName.name(firstSequence: run.first)
            let temporary = final + ".repair.tmp"
            let file = try FileDescriptor(path: temporary, flags: O_WRONLY | O_CREAT | O_TRUNC)
            var bytes: [UInt8] = []
            SegmentHeader(firstSequence: run.first, createdMicroseconds: created).encode(into: &bytes)
            for frame in run.frames {
                var chunk = [UInt8](repeating: 0, count: Int(frame.count))
                _ = try source.read(into: &chunk, count: chunk.count, fileOffset: frame.lowerBound)
                bytes += chunk
            }
            try file.writeAll(bytes, fileOffset: 0)
            try file.syncData()
            written.append((temporary, final, (run.first, run.end), UInt64(bytes.count)))
        }
        try LogDirectory.sync(directory)
        var incidents: [LogIncident] = []
        let destination = try quarantine.moveAside(scan.path)
        try moveIndexAside(of: scan.path, quarantine: &quarantine)
        incidents.append(
            LogIncident(
                kind: .segmentQuarantined,
                path: scan.path,
                byteCount: scan.byteCount,
                destination: destination
            )
        )
        for file in written {
            _ = try systemCall("rename", path: file.temporary) { unsafe rename(file.temporary, file.final) }
            let entries = try SegmentIndex.build(segmentPath: file.final)
            try SegmentIndex.write(entries, segmentPath: file.final, segmentFirstSequence: file.run.first)
            _ = try? SegmentSummary.rebuild(segmentPath: file.final)  // derived; a query rebuilds it otherwise
            incidents.append(
                LogIncident(
                    kind: .segmentRewritten,
                    path: file.final,
                    byteCount: file.byteCount,
                    sequences: file.run.first..<file.run.end
                )
            )
        }
        try LogDirectory.sync(directory)
        return incidents
    }

    /// Moves a newest segment torn inside its header (and its index) aside.
    private static func quarantineIncomplete(
        _ path: String,
        firstSequence: UInt64,
        quarantine: inout Quarantine
    ) throws(SegmentLogError) -> LogIncident {
        let byteCount = try FileDescriptor(path: path, flags: O_RDONLY).byteCount()
        let destination = try quarantine.moveAside(path)
        try moveIndexAside(of: path, quarantine: &quarantine)
        return LogIncident(
            kind: .incompleteSegmentQuarantined,
            path: path,
            fileOffset: 0,
            byteCount: byteCount,
            sequences: firstSequence..<firstSequence,
            destination: destination
        )
    }

    /// A segment shorter than its header, or exactly a header that does not verify: the crash came before
    /// its header was complete and it holds no frame.
    static func isIncompleteSegment(_ path: String) throws(SegmentLogError) -> Bool {
        let size = try FileDescriptor(path: path, flags: O_RDONLY).byteCount()
        if size < UInt64(SegmentHeader.byteCount) { return true }
        guard size == UInt64(SegmentHeader.byteCount) else { return false }
        do {
            _ = try SegmentReader(path: path)
            return false
        } catch  where error.code == .corrupt {
            return true
        }
    }

    private static func moveIndexAside(of segmentPath: String, quarantine: inout Quarantine) throws(SegmentLogError) {
        let indexPath = SegmentIndex.path(forSegment: segmentPath)
        guard unsafe access(indexPath, F_OK) == 0 else { return }
        _ = try quarantine.moveAside(indexPath)
    }

    private static func lockForRepair(_ directory: String) throws(SegmentLogError) -> FileDescriptor {
        let lockPath = directory + "/writer.lock"
        let lock = try FileDescriptor(path: lockPath, flags: O_RDWR | O_CREAT)
        guard flock(lock.descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let code = Glibc.errno
            throw SegmentLogError(
                code: code == EWOULDBLOCK ? .locked : .ioFailed,
                path: lockPath,
                message: code == EWOULDBLOCK ? "a writer has this log open; stop it before repairing" : "flock",
                errno: code
            )
        }
        return lock
    }
}
