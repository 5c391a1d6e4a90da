/// One thing recovery, a scrub, a verification or a repair did to a log or found in it, with the file and
/// offset it concerns and what it cost. Every repair and every piece of damage is one of these: nothing is
/// removed, lowered or skipped without one (FORMAT.md, "Damage, repair and quarantine").
///
/// ``description`` is a sentence for people; the fields are for embedders. A value; thread-safe.
public struct LogIncident: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Recovery cut a torn tail off the active segment (kept aside in ``LogIncident/destination``).
        case tornTailTruncated
        /// Recovery moved aside a newest segment torn inside its header (it held no frame).
        case incompleteSegmentQuarantined
        /// Recovery lowered a checkpoint that pointed past the end of the log.
        case checkpointMovedBack
        /// Bytes of a segment that fail verification (a frame's header, payload or records).
        case damagedFrame
        /// A segment whose header fails verification, or disagrees with its name.
        case damagedSegmentHeader
        /// Sequences missing from the log (a gap between segments, or inside one) that no repair recorded.
        case missingSequences
        /// Sequences a repair recorded as lost (`lost-sequences.txt`): a note, not damage.
        case recordedLoss
        /// A repair moved a damaged segment aside into the quarantine folder.
        case segmentQuarantined
        /// A repair wrote the readable frames of a damaged segment into a segment of their own.
        case segmentRewritten
    }

    public var kind: Kind
    /// The file concerned (a segment, a checkpoint, `lost-sequences.txt`).
    public var path: String
    /// Where in `path` it starts (bytes), when it is about a place in a file.
    public var fileOffset: UInt64?
    /// How many bytes were dropped, moved aside, unreadable or written.
    public var byteCount: UInt64
    /// The sequences dropped, unreadable, lost or written, when both ends are known.
    public var sequences: Range<UInt64>?
    /// When only the first affected sequence is known (damage at the end of the newest segment): from here on.
    public var sequencesFrom: UInt64?
    /// Where the bytes were moved or copied to (the quarantine folder), when they were.
    public var destination: String?
    /// Why: the verification failure, or what the repair saw.
    public var detail: String

    public init(
        kind: Kind,
        path: String,
        fileOffset: UInt64? = nil,
        byteCount: UInt64 = 0,
        sequences: Range<UInt64>? = nil,
        sequencesFrom: UInt64? = nil,
        destination: String? = nil,
        detail: String = ""
    ) {
        self.kind = kind
        self.path = path
        self.fileOffset = fileOffset
        self.byteCount = byteCount
        self.sequences = sequences
        self.sequencesFrom = sequencesFrom
        self.destination = destination
        self.detail = detail
    }

    /// Damage (something unreadable or missing that no repair recorded), as opposed to a repair or a note.
    public var isDamage: Bool {
        switch kind {
        case .damagedFrame, .damagedSegmentHeader, .missingSequences: true
        case .tornTailTruncated, .incompleteSegmentQuarantined, .checkpointMovedBack, .recordedLoss,
            .segmentQuarantined, .segmentRewritten:
            false
        }
    }

    /// "sequences 4..<9", "sequences from 4 on (how many is unknown)", or "no sequences".
    public var sequenceText: String {
        if let sequences {
            return sequences.isEmpty ? "no sequences" : "sequences \(sequences.lowerBound)..<\(sequences.upperBound)"
        }
        if let sequencesFrom { return "sequences from \(sequencesFrom) on (how many is unknown)" }
        return "sequences unknown"
    }

    private var place: String {
        var text = path
        if let fileOffset { text += " at file offset \(fileOffset)" }
        return text
    }

    private var because: String { detail.isEmpty ? "" : " (\(detail))" }

    public var description: String {
        switch kind {
        case .tornTailTruncated:
            var text = "truncated a torn tail of \(place): \(byteCount) bytes, \(sequenceText), dropped"
            if let destination { text += "; the bytes are kept in \(destination)" }
            return text + because
        case .incompleteSegmentQuarantined:
            return "moved \(path) (\(byteCount) bytes, torn inside its header, no records) to \(destination ?? "?")"
                + because
        case .checkpointMovedBack:
            return "moved the checkpoint in \(place) back: \(sequenceText) are not in the log" + because
        case .damagedFrame:
            let start = fileOffset ?? 0
            return "damaged bytes in \(path) at file offset \(start) (\(byteCount) bytes, to file offset "
                + "\(start + byteCount)): \(sequenceText) unreadable" + because
        case .damagedSegmentHeader:
            return "damaged segment header in \(place)" + because
        case .missingSequences:
            return "\(sequenceText) missing" + because
        case .recordedLoss:
            return "note: \(sequenceText) were lost in a repair (\(place))" + because
        case .segmentQuarantined:
            return "moved the damaged segment \(path) (\(byteCount) bytes) to \(destination ?? "?")" + because
        case .segmentRewritten:
            return "wrote \(sequenceText) (\(byteCount) bytes of verified frames) to \(path)" + because
        }
    }
}
