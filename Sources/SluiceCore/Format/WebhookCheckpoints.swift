/// The pipeline's per-webhook checkpoints (`pipeline.webhooks` in the log directory, FORMAT.md): for each
/// webhook, the log sequence below which it has no pending delivery except the pairs it carries
/// explicitly, with the attempts they have made so far. Pure encoding and validation; the file is
/// written and read by `CheckpointStore`.
public struct WebhookCheckpoints: Sendable, Equatable {
    /// One delivery below its webhook's checkpoint that is not final yet.
    public struct Pending: Sendable, Equatable {
        public var eventSequence: UInt64
        /// Attempts already made (and journaled) for the pair; a restart continues at `attempt + 1`.
        public var attempt: UInt32

        public init(eventSequence: UInt64, attempt: UInt32) {
            self.eventSequence = eventSequence
            self.attempt = attempt
        }
    }

    public struct Webhook: Sendable, Equatable {
        /// The webhook's name in the configuration (the identity across restarts).
        public var name: String
        /// Every event below this sequence has its delivery to this webhook final, except `pending`.
        public var checkpoint: UInt64
        /// Sorted by event sequence, each below `checkpoint`.
        public var pending: [Pending]

        public init(name: String, checkpoint: UInt64, pending: [Pending]) {
            self.name = name
            self.checkpoint = checkpoint
            self.pending = pending
        }
    }

    public static let magic: [UInt8] = Array("SLWC".utf8)
    public static let version: UInt8 = 1
    public static let headerByteCount = 40
    public static let nameByteCountMax = 1024

    /// The value written to `pipeline.checkpoint` together with this file: every event below it has
    /// every delivery final (the oldest pending delivery included). A reader that finds a different value
    /// there knows the two files were not written together (see FORMAT.md).
    public var settled: UInt64
    /// Where a restart re-matches from: the lowest webhook checkpoint (or `matchedEnd`).
    public var rematchFrom: UInt64
    /// One past the last event the matcher had reported; a webhook the file does not name starts here.
    public var matchedEnd: UInt64
    public var webhooks: [Webhook]

    public init(settled: UInt64, rematchFrom: UInt64, matchedEnd: UInt64, webhooks: [Webhook]) {
        self.settled = settled
        self.rematchFrom = rematchFrom
        self.matchedEnd = matchedEnd
        self.webhooks = webhooks
    }

    /// The file's bytes: header, webhooks, CRC-32C of everything before it.
    public func encoded() -> [UInt8] {
        var bytes = Self.magic
        bytes.append(Self.version)
        bytes.append(contentsOf: [0, 0, 0])
        var size = Self.headerByteCount + 4
        for webhook in webhooks { size += 2 + webhook.name.utf8.count + 12 + 12 * webhook.pending.count }
        bytes.reserveCapacity(size)
        bytes.appendLittleEndian(UInt32(truncatingIfNeeded: size))
        bytes.appendLittleEndian(UInt32(truncatingIfNeeded: webhooks.count))
        bytes.appendLittleEndian(settled)
        bytes.appendLittleEndian(rematchFrom)
        bytes.appendLittleEndian(matchedEnd)
        for webhook in webhooks {
            bytes.appendLittleEndian(UInt16(truncatingIfNeeded: webhook.name.utf8.count))
            bytes.append(contentsOf: webhook.name.utf8)
            bytes.appendLittleEndian(webhook.checkpoint)
            bytes.appendLittleEndian(UInt32(truncatingIfNeeded: webhook.pending.count))
            for pending in webhook.pending {
                bytes.appendLittleEndian(pending.eventSequence)
                bytes.appendLittleEndian(pending.attempt)
            }
        }
        bytes.appendLittleEndian(CRC32C.checksum(bytes))
        return bytes
    }

    /// Decodes and validates a whole file.
    /// - Throws: `FormatError` naming the offset: `truncated` (a torn file), `badMagic`,
    ///   `payloadChecksumMismatch`, `unsupportedVersion`, or `invalidField` (a field breaks an invariant).
    public init(decoding bytes: [UInt8]) throws(FormatError) {
        func error(_ code: FormatError.Code, _ offset: Int, _ message: String) -> FormatError {
            FormatError(code: code, fileOffset: UInt64(offset), message: message)
        }
        guard bytes.count >= Self.headerByteCount + 4 else {
            throw error(
                .truncated,
                bytes.count,
                "webhook checkpoints file is \(bytes.count) bytes, shorter than its header"
            )
        }
        guard Array(bytes[0..<4]) == Self.magic else { throw error(.badMagic, 0, "not a webhook checkpoints file") }
        var reader = LittleEndianReader(bytes: bytes)
        reader.offset = 8
        let size = Int(reader.u32())
        guard size == bytes.count else {
            throw error(
                .truncated,
                bytes.count,
                "webhook checkpoints file is \(bytes.count) bytes, its header says \(size)"
            )
        }
        let stored =
            UInt32(bytes[size - 4]) | UInt32(bytes[size - 3]) << 8 | UInt32(bytes[size - 2]) << 16
            | UInt32(bytes[size - 1]) << 24
        let computed = CRC32C.checksum(Array(bytes[0..<(size - 4)]))
        guard stored == computed else {
            throw FormatError(
                code: .payloadChecksumMismatch,
                fileOffset: UInt64(size - 4),
                message: "webhook checkpoints checksum mismatch",
                storedChecksum: stored,
                computedChecksum: computed
            )
        }
        guard bytes[4] == Self.version else {
            throw error(
                .unsupportedVersion,
                4,
                "webhook checkpoints version \(bytes[4]), this reader knows \(Self.version)"
            )
        }
        let webhookCount = Int(reader.u32())
        settled = reader.u64()
        rematchFrom = reader.u64()
        matchedEnd = reader.u64()
        guard settled <= rematchFrom, rematchFrom <= matchedEnd else {
            throw error(
                .invalidField,
                16,
                "settled \(settled) ≤ re-match-from \(rematchFrom) ≤ matched end \(matchedEnd) does not hold"
            )
        }
        let end = size - 4
        webhooks = []
        var names: Set<String> = []
        for number in 0..<webhookCount {
            let start = reader.offset
            guard reader.offset + 2 <= end else { throw error(.truncated, start, "webhook \(number) is cut off") }
            let nameLength = Int(reader.u16())
            guard nameLength > 0, nameLength <= Self.nameByteCountMax, reader.offset + nameLength + 12 <= end else {
                throw error(.invalidField, start, "webhook \(number): name length \(nameLength) does not fit")
            }
            guard let name = String(validating: bytes[reader.offset..<(reader.offset + nameLength)], as: UTF8.self),
                names.insert(name).inserted
            else { throw error(.invalidField, start + 2, "webhook \(number): name is not UTF-8 or repeats") }
            reader.offset += nameLength
            let checkpointOffset = reader.offset
            let checkpoint = reader.u64()
            let pendingCount = Int(reader.u32())
            guard checkpoint >= rematchFrom, checkpoint <= matchedEnd else {
                throw error(
                    .invalidField,
                    checkpointOffset,
                    "webhook '\(name)': checkpoint \(checkpoint) outside \(rematchFrom)...\(matchedEnd)"
                )
            }
            guard pendingCount <= (end - reader.offset) / 12 else {
                throw error(
                    .invalidField,
                    checkpointOffset + 8,
                    "webhook '\(name)': \(pendingCount) pending pairs do not fit"
                )
            }
            var pending: [Pending] = []
            pending.reserveCapacity(pendingCount)
            var previous: UInt64?
            for _ in 0..<pendingCount {
                let pairOffset = reader.offset
                let pair = Pending(eventSequence: reader.u64(), attempt: reader.u32())
                guard pair.eventSequence >= settled, pair.eventSequence < checkpoint,
                    previous.map({ $0 < pair.eventSequence }) ?? true
                else {
                    throw error(
                        .invalidField,
                        pairOffset,
                        "webhook '\(name)': pending event \(pair.eventSequence) is out of order or not below its checkpoint"
                    )
                }
                previous = pair.eventSequence
                pending.append(pair)
            }
            webhooks.append(Webhook(name: name, checkpoint: checkpoint, pending: pending))
        }
        guard reader.offset == end else {
            throw error(.invalidField, reader.offset, "\(end - reader.offset) bytes after the last webhook")
        }
    }
}

/// Sequential little-endian reads from bytes whose bounds the caller has checked.
private struct LittleEndianReader {
    let bytes: [UInt8]
    var offset = 0

    mutating func u16() -> UInt16 { UInt16(truncatingIfNeeded: read(2)) }
    mutating func u32() -> UInt32 { UInt32(truncatingIfNeeded: read(4)) }
    mutating func u64() -> UInt64 { read(8) }

    private mutating func read(_ count: Int) -> UInt64 {
        var value: UInt64 = 0
        for position in (offset..<(offset + count)).reversed() { value = value << 8 | UInt64(bytes[position]) }
        offset += count
        return value
    }
}
