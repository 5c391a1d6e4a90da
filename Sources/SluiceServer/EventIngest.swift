import Dispatch
import Hummingbird
import NIOCore
import Sluice
import Synchronization

/// `POST /api/events`: one event (`application/json`) or a JSON Lines batch (`application/x-ndjson`),
/// answered per line once the accepted events are durable (docs/server.md "Event ingest").
///
/// A batch is all or nothing towards the ring (``Pipeline/emit(batch:admit:)``): on a full ring the reply is
/// 429 with `Retry-After` and no line of it was taken. Ids already seen within the idempotency window
/// (``IdempotencyIndex``) are answered `duplicate` and not emitted; the check and the emit happen under one
/// lock, so two concurrent requests with the same id emit it once.
///
/// A batch is decoded on ``emitQueue``, not on a thread of the Swift concurrency pool: the pipeline decodes it
/// under its ingest lock (the decoder's symbol table is shared), inside the index lock, which would stall
/// the pool's threads (two on a two-core host) while, say, a 100-event batch decodes. A small request (up to
/// ``inlineDecodeByteCountMax`` bytes of events) is decoded in place: its decode is shorter than the hop.
///
/// Thread-safe: the index is under a mutex, the pipeline and the waiter are thread-safe.
final class EventIngest: Sendable {
    let pipeline: Pipeline
    let configuration: ServerConfiguration
    let waiter: AcknowledgementWaiter
    let index: Mutex<IdempotencyIndex>
    /// Where requests' events are decoded and emitted, one request after the other: a serial queue off the
    /// concurrency pool. Its locks are then uncontended, and requests that arrive together are emitted back
    /// to back without a thread switch between them.
    let emitQueue = DispatchQueue(label: "sluice.ingest.emit")

    init(pipeline: Pipeline, configuration: ServerConfiguration) {
        self.pipeline = pipeline
        self.configuration = configuration
        waiter = AcknowledgementWaiter(pipeline: pipeline)
        index = Mutex(
            IdempotencyIndex(
                windowMicroseconds: Int64(configuration.idempotencyWindowSeconds) * 1_000_000,  // ≤ 30 days
                countMax: configuration.idempotencyIDCountMax
            )
        )
    }

    /// What the request asked for, read from its headers and query.
    enum Shape {
        case single
        case lines
    }

    func handle(_ request: Request) async -> Response {
        let mediaType = request.headers[.contentType].map(Self.mediaType) ?? ""
        let shape: Shape
        switch mediaType {
        case "application/json": shape = .single
        case "application/x-ndjson", "application/jsonl", "application/json-lines": shape = .lines
        default:
            return ServerReply.error(
                .unsupportedMediaType,
                code: "unsupported_media_type",
                message:
                    "Content-Type must be application/json (one event) or application/x-ndjson (JSON Lines), not '\(mediaType)'"
            )
        }
        let waitsForDurability: Bool
        switch request.uri.queryParameters["wait"] {
        case nil, "durable": waitsForDurability = true
        case "accepted": waitsForDurability = false
        case .some(let other):
            return ServerReply.error(
                .badRequest,
                code: "invalid_parameter",
                message: "wait must be durable or accepted, not '\(other)'"
            )
        }
        let body: ByteBuffer
        switch await ServerReply.collectBody(
            request,
            byteCountMax: configuration.bodyByteCountMax,
            timeoutMilliseconds: configuration.requestTimeoutMilliseconds
        ) {
        case .success(let buffer): body = buffer
        case .failure(let failure): return failure.reply
        }
        let (events, errors) = split(body, shape: shape)
        return await emit(events: events, errors: errors, waitsForDurability: waitsForDurability)
    }

    /// The lines of the body (1-based line numbers), and the errors of lines that are not events at all.
    func split(
        _ body: ByteBuffer,
        shape: Shape
    ) -> (events: [(line: Int, lineStart: Int, bytes: [UInt8])], errors: [Int: EventDecodingError]) {
        var events: [(line: Int, lineStart: Int, bytes: [UInt8])] = []
        var errors: [Int: EventDecodingError] = [:]
        switch shape {
        case .single:
            events.append((1, 0, Array(body.readableBytesView)))
        case .lines:
            let lineByteCountMax = pipeline.configuration.eventLimits.eventByteCountMax
            var splitter = JSONLinesSplitter(lineByteCountMax: lineByteCountMax)
            let take = { (line: JSONLinesSplitter.Line) in
                switch unsafe line {
                case .line(let number, let start, let bytes):
                    events.append((number, start, unsafe Array(bytes)))
                case .oversize(let number, let start, let byteCount):
                    errors[number] = EventDecodingError(
                        code: .limitExceeded,
                        byteOffset: start,
                        fieldPath: "",
                        message: "the line is \(byteCount) bytes, more than an event may be (\(lineByteCountMax))",
                        line: number
                    )
                }
            }
            body.withUnsafeReadableBytes { raw in unsafe splitter.feed(raw, take) }
            splitter.finish(take)
        }
        return (events, errors)
    }
}

extension EventIngest {
    /// Emits the valid events of the request as one batch and builds the per-line reply.
    func emit(
        events: [(line: Int, lineStart: Int, bytes: [UInt8])],
        errors lineErrors: [Int: EventDecodingError],
        waitsForDurability: Bool
    ) async -> Response {
        switch await submit(events.map(\.bytes), waitsForDurability: waitsForDurability) {
        case .success(let results):
            return reply(events: events, lineErrors: lineErrors, results: results, durable: waitsForDurability)
        case .failure(let failure):
            return failure.reply
        }
    }

    /// Emits `events` as one batch (all or nothing), skipping ids seen within the idempotency window, and —
    /// when `waitsForDurability` — returns once the accepted ones are durable. The failure is the whole
    /// request's reply (429 full ring, 413 larger than the ring, 503 stopping, 500 log failed).
    func submit(
        _ events: [[UInt8]],
        waitsForDurability: Bool
    ) async -> Result<[Pipeline.BatchEventResult], ServerReply.Failure> {
        let (result, duplicateOfPosition): (Pipeline.BatchEmitResult, Int)
        if events.reduce(0, { $0 + $1.count }) <= Self.inlineDecodeByteCountMax {
            // A few events decode in microseconds, less than the two thread wake-ups of a queue hop (measured
            // with serve-bench: at 1,000 single-event POSTs/s, thread switches were most of the server's CPU).
            (result, duplicateOfPosition) = emitDeduplicated(events)
        } else {
            (result, duplicateOfPosition) = await withCheckedContinuation { continuation in
                emitQueue.async { continuation.resume(returning: self.emitDeduplicated(events)) }
            }
        }
        return await finish(result, duplicateOfPosition: duplicateOfPosition, waitsForDurability: waitsForDurability)
    }

    /// Requests whose events total at most this many bytes are decoded where they are (about 20 µs of
    /// decoding at most); larger ones on ``emitQueue``.
    static let inlineDecodeByteCountMax = 16 * 1_024

    /// Emits `events` as one batch, refusing ids seen within the window (it decodes, under the index lock and
    /// the pipeline's ingest lock: on ``emitQueue`` unless the request is small). Also returns the highest
    /// ring position of an earlier request's event that a duplicate here must wait for (-1: none).
    func emitDeduplicated(_ events: [[UInt8]]) -> (Pipeline.BatchEmitResult, Int) {
        let nowMicroseconds = Timestamp.now().microsecondsSinceEpoch
        let acknowledged = pipeline.acknowledgedCount
        return index.withLock { index in
            index.expire(nowMicroseconds: nowMicroseconds)
            index.forgetDurable(acknowledged: acknowledged)
            var batch: Set<EventID> = []
            // A duplicate of an event accepted by an earlier request that may not be durable yet waits for that
            // event: answering `duplicate` at once would tell a retrying client its event is safe before it is.
            var duplicateOfPosition = -1
            let result = pipeline.emit(batch: events) { id in
                if !index.contains(id) && batch.insert(id).inserted { return true }
                if let position = index.pendingPosition(of: id) {
                    duplicateOfPosition = max(duplicateOfPosition, position)
                }
                return false
            }
            if case .emitted(let results) = result {
                for case .accepted(let position, let id) in results {
                    index.insert(id, seenMicroseconds: nowMicroseconds)
                    index.notePending(id, position: position)
                }
            }
            return (result, duplicateOfPosition)
        }
    }

    /// The request's reply from what ``emitDeduplicated(_:)`` did: a failure, or the results once the accepted
    /// events (and the earlier ones their duplicates name) are durable when `waitsForDurability`.
    func finish(
        _ result: Pipeline.BatchEmitResult,
        duplicateOfPosition: Int,
        waitsForDurability: Bool
    ) async -> Result<[Pipeline.BatchEventResult], ServerReply.Failure> {
        let results: [Pipeline.BatchEventResult]
        switch result {
        case .emitted(let emitted): results = emitted
        case .backpressure:
            return .failure(
                ServerReply.Failure(
                    reply: ServerReply.error(
                        .tooManyRequests,
                        code: "backpressure",
                        message: "the event ring is full: nothing of this request was accepted; retry after the delay",
                        headers: [.retryAfter: String(configuration.retryAfterSeconds)]
                    )
                )
            )
        case .exceedsRing(let capacity):
            return .failure(
                ServerReply.Failure(
                    reply: ServerReply.error(
                        .contentTooLarge,
                        code: "batch_exceeds_ring",
                        message:
                            "the batch holds more events than the ring (\(capacity)); nothing was accepted: split it"
                    )
                )
            )
        case .stopped:
            return .failure(
                ServerReply.Failure(
                    reply: ServerReply.error(
                        .serviceUnavailable,
                        code: "stopping",
                        message: "the pipeline is not running: nothing was accepted",
                        headers: [.retryAfter: String(configuration.retryAfterSeconds)]
                    )
                )
            )
        }
        let lastPosition = results.reduce(duplicateOfPosition) { last, result in
            if case .accepted(let position, _) = result { return max(last, position) }
            return last
        }
        if waitsForDurability, lastPosition >= 0, !(await waiter.wait(untilAcknowledged: lastPosition)) {
            return .failure(
                ServerReply.Failure(
                    reply: ServerReply.error(
                        .internalServerError,
                        code: "log_failed",
                        message: "the log failed before the events were durable: \(pipeline.failure ?? "")"
                    )
                )
            )
        }
        return .success(results)
    }
}

extension EventIngest {
    /// Fills the idempotency index from the log, so a restart — also after `kill -9` — still answers a
    /// redelivery `duplicate`: the ids of the events among the last `idempotency_ids_max` records before
    /// `logEnd` are remembered for a whole window from now. (The log keeps each event's `occurred` time, not
    /// when it arrived, so arrival times cannot be rebuilt; a producer's `occurred` may be old or skewed.)
    /// - Throws: the log reader's error (damaged ranges are skipped: the pipeline's scrub reports them).
    func rebuildIndex(logEnd: UInt64) throws {
        guard configuration.idempotencyWindowSeconds > 0 else { return }
        let nowMicroseconds = Timestamp.now().microsecondsSinceEpoch
        var decoder = EventDecoder(limits: pipeline.configuration.eventLimits)
        var header = EventHeader()
        var found: [EventID] = []
        let recordCount = UInt64(configuration.idempotencyIDCountMax)  // ≤ 100 million
        _ = try LogFiles.forEachRecord(
            directory: pipeline.configuration.log.directory,
            fromSequence: logEnd > recordCount ? logEnd - recordCount : 0,
            toSequence: logEnd,
            skipDamaged: true
        ) { record in
            guard record.type == .event else { return }
            do throws(EventDecodingError) {
                try decoder.decodeHeader(record.body, into: &header)
                found.append(header.id)
            } catch {
                return  // a journaled event always decodes; nothing to remember if one does not
            }
        }
        index.withLock { index in
            for id in found { index.insert(id, seenMicroseconds: nowMicroseconds) }
        }
    }
}
