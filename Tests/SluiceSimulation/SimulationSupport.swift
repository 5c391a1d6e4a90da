import SluiceCore

/// A defect planted in the simulated pipeline's driver for the mutation check (docs/simulation.md): each
/// breaks one guarantee, and the invariants must catch it on some seeds.
public enum SimulationDefect: String, CaseIterable, Sendable {
    /// The journaler tells the tracker and the producers that a batch is durable when it is appended,
    /// before its fsync completes.
    case settleBeforeFsync = "settle-before-fsync"
    /// A delivery whose attempt failed is never tried again (the retry's timer is dropped).
    case dropRetry = "drop-retry"
    /// The `webhook-id` ignores the webhook: two webhooks of one event share it.
    case reuseWebhookID = "reuse-webhook-id"
    /// A restart does not re-feed the log to the stateful trigger: its windows start empty.
    case restartSkipsRefeed = "restart-skips-refeed"
}

/// SplitMix64: the simulation's one source of randomness (every choice of a run follows from its seed).
struct SimulationRandom: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }

    /// `true` with probability `percent` / 100.
    mutating func percent(_ percent: Int) -> Bool { Int(next() % 100) < percent }

    mutating func below(_ bound: UInt64) -> UInt64 { bound == 0 ? 0 : next() % bound }
}

/// One record read back from the simulated log.
struct SimulationRecord {
    var sequence: UInt64
    var type: RecordType
    var body: [UInt8]
}

/// Frames in the log's own format (FORMAT.md: ``FrameHeader``, ``FramePayload``, CRC-32C), uncompressed:
/// the simulated disk holds the bytes a real segment would hold after its header.
enum SimulationFrames {
    static func encode(
        _ records: [(type: RecordType, body: [UInt8])],
        firstSequence: UInt64,
        timestamp: Int64
    )
        -> [UInt8]
    {
        var payload: [UInt8] = []
        var mask: UInt8 = 0
        for record in records {
            mask |= 1 << record.type.rawValue
            record.body.withUnsafeBytes { body in
                FramePayload.appendRecord(type: record.type, timestampMicroseconds: timestamp, body: body, to: &payload)
            }
        }
        let header = FrameHeader(
            compression: .none,
            recordTypeMask: mask,
            firstSequence: firstSequence,
            recordCount: UInt32(records.count),
            storedByteCount: UInt32(payload.count),
            uncompressedByteCount: UInt32(payload.count),
            payloadChecksum: CRC32C.checksum(payload),
            minTimestampMicroseconds: timestamp,
            maxTimestampMicroseconds: timestamp
        )
        var frame: [UInt8] = []
        header.encode(into: &frame)
        frame.append(contentsOf: payload)
        return frame
    }

    /// The records of every frame that verifies, from the start, and the bytes they cover (recovery
    /// truncates the rest: a torn tail).
    static func decode(_ bytes: [UInt8]) -> (records: [SimulationRecord], validByteCount: Int) {
        var records: [SimulationRecord] = []
        var offset = 0
        while offset + FrameHeader.byteCount <= bytes.count {
            guard
                let header = try? FrameHeader.decode(
                    Array(bytes[offset..<(offset + FrameHeader.byteCount)]),
                    fileOffset: UInt64(offset)
                ),
                header.firstSequence == UInt64(records.count)
            else { break }
            let start = offset + FrameHeader.byteCount
            let end = start + Int(header.storedByteCount)
            guard end <= bytes.count else { break }
            let payload = Array(bytes[start..<end])
            guard CRC32C.checksum(payload) == header.payloadChecksum else { break }
            var frame: [SimulationRecord] = []
            let valid = payload.withUnsafeBytes { raw in
                (try? FramePayload.forEachRecord(in: raw, header: header, fileOffset: UInt64(offset)) { record in
                    frame.append(
                        SimulationRecord(
                            sequence: record.sequence,
                            type: record.type,
                            body: Array(payload[record.bodyRange])
                        )
                    )
                }) != nil
            }
            guard valid else { break }
            records.append(contentsOf: frame)
            offset = end
        }
        return (records, offset)
    }
}

/// The simulated disk: the log's bytes (synced, and written but not synced), the checkpoint files (each
/// replaced atomically) and the endpoint state file. A crash loses the unsynced bytes except a random
/// prefix (a torn write); appends fail with ENOSPC and syncs with EIO when the run says so.
struct SimulationDisk {
    var synced: [UInt8] = []
    var unsynced: [UInt8] = []
    /// Records written so far (the next record's sequence).
    var nextSequence: UInt64 = 0
    /// `pipeline.checkpoint` and `pipeline.webhooks`.
    var settledCheckpoint: UInt64?
    var webhookCheckpoints: [UInt8]?
    var disabledEndpoints: Set<String> = []

    var writtenByteCount: Int { synced.count + unsynced.count }

    mutating func append(_ frame: [UInt8], recordCount: Int) -> Range<UInt64> {
        unsynced.append(contentsOf: frame)
        let first = nextSequence
        nextSequence += UInt64(recordCount)
        return first..<nextSequence
    }

    /// Makes the first `byteCount` written bytes durable.
    mutating func sync(upTo byteCount: Int) {
        let moving = max(0, min(unsynced.count, byteCount - synced.count))
        synced.append(contentsOf: unsynced.prefix(moving))
        unsynced.removeFirst(moving)
    }

    /// A crash: a random prefix of the unsynced bytes reached the disk (possibly tearing a frame); the
    /// rest is lost. Recovery then truncates the torn tail.
    mutating func crash(_ random: inout SimulationRandom) {
        let kept = Int(random.below(UInt64(unsynced.count + 1)))
        synced.append(contentsOf: unsynced.prefix(kept))
        unsynced = []
    }

    /// Recovery: reads the log back, truncates what does not verify, and syncs (the writer's open does).
    mutating func recover() -> [SimulationRecord] {
        let (records, valid) = SimulationFrames.decode(synced)
        synced.removeLast(synced.count - valid)
        nextSequence = UInt64(records.count)
        return records
    }
}
