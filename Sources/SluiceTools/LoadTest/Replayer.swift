import SluiceCore
import Synchronization

#if canImport(Glibc)
internal import Glibc
#endif

/// The load tester (`sluice replay`): drives a fixture through a full ``Pipeline`` into its configured
/// endpoints at a target rate, shows a live progress line, and builds a ``LoadTestReport`` with HDR
/// latency histograms (emit → 2xx overall, per trigger, per stage) and the delivery outcomes.
public enum Replayer {
    public struct Options: Sendable {
        /// A JSON Lines file of events (`sluice fixtures generate`).
        public var fixturePath: String
        /// Events per second to emit; `nil` emits as fast as the pipeline takes them (saturation).
        public var rate: Double?
        /// Stop emitting after this long; `nil` stops at the end of the fixture.
        public var duration: Duration?
        /// Start the fixture again when it ends (until ``duration``).
        public var loop = false
        /// How long to wait, after the last emit, for the deliveries to finish before reporting.
        public var drainTimeout: Duration = .seconds(60)

        public init(fixturePath: String) { self.fixturePath = fixturePath }
    }

    /// Replays `options.fixturePath` through a pipeline built from `configuration` and returns the report.
    /// `progress` receives a progress line about once a second (for `\r` updates).
    public static func run(
        _ options: Options,
        configuration: PipelineConfiguration,
        progress: (String) -> Void
    ) throws -> LoadTestReport {
        let pipeline = try Pipeline(configuration: configuration)
        let triggerNames = configuration.triggers.allTriggers.map(\.name)
        let layout = LatencyRecorder.Layout(triggerNames: triggerNames, startNanoseconds: monotonicNanoseconds())
        var emitter = LatencyRecorder(layout: layout)
        let deliveries = Mutex(LatencyRecorder(layout: layout))
        // Per trigger number: the recorder's row (the first trigger of that name).
        var firstOfName: [String: Int] = [:]
        for (position, name) in triggerNames.enumerated() where firstOfName[name] == nil {
            firstOfName[name] = position
        }
        let rowOfTrigger = triggerNames.map { firstOfName[$0]! }
        pipeline.onDelivered { timing in
            deliveries.withLock { recorder in
                if timing.emittedNanoseconds > 0 {  // recovered deliveries have no emit time in this run
                    recorder.recordStage(
                        .journal,
                        fromNanoseconds: timing.emittedNanoseconds,
                        toNanoseconds: timing.durableNanoseconds
                    )
                    recorder.recordStage(
                        .match,
                        fromNanoseconds: timing.durableNanoseconds,
                        toNanoseconds: timing.matchedNanoseconds
                    )
                    recorder.recordStage(
                        .send,
                        fromNanoseconds: timing.matchedNanoseconds,
                        toNanoseconds: timing.sentNanoseconds
                    )
                    recorder.recordDelivered(
                        triggerIndex: timing.triggerNumber < rowOfTrigger.count
                            ? rowOfTrigger[timing.triggerNumber] : nil,
                        emitNanoseconds: timing.emittedNanoseconds,
                        responseNanoseconds: timing.completedNanoseconds,
                        attempt: timing.attempt
                    )
                }
                recorder.recordStage(
                    .response,
                    fromNanoseconds: timing.sentNanoseconds,
                    toNanoseconds: timing.completedNanoseconds
                )
                recorder.recordRequestSent(byteCount: timing.requestByteCount)
            }
        }
        pipeline.onOutcome { record in
            guard record.outcome == .retrying || record.outcome == .deadLettered else { return }
            deliveries.withLock { recorder in
                if let failureClass = record.failureClass { recorder.recordFailedAttempt(failureClass) }
                if record.outcome == .deadLettered { recorder.recordDeadLettered() }
            }
        }
        let recovery = try pipeline.start()

        let lineByteCountMax = configuration.eventLimits.eventByteCountMax + 2
        let start = monotonicNanoseconds()
        let durationNanoseconds = options.duration.map {
            UInt64($0.components.seconds) * 1_000_000_000 + UInt64($0.components.attoseconds / 1_000_000_000)
        }
        var emitted = 0
        var fixtureEvents = 0
        var lastProgress = start
        var progressLine = ProgressLine()
        /// One progress line: deliveries from the delivery recorder, accepted events from the emitter's.
        func showProgress(_ now: UInt64) {
            var snapshot = deliveries.withLock { $0.progressSnapshot(atNanoseconds: now) }
            snapshot.eventsAccepted = emitter.counters.eventsAccepted
            progress(progressLine.render(snapshot))
        }
        var stop = false
        var backoff: UInt32 = 50
        var invalidLines: [String] = []
        var invalidCount = 0
        repeat {
            let reader = try LineReader(path: options.fixturePath, lineByteCountMax: lineByteCountMax)
            defer { reader.close() }
            try unsafe reader.forEachLine(
                onOversizeLine: { line, lineStart, byteCount in
                    // Counted as invalid like a line `emit` refuses, so the report's count matches the errors.
                    emitter.recordEmit(.invalid, byteCount: byteCount, atNanoseconds: monotonicNanoseconds())
                    invalidCount += 1
                    if invalidLines.count < 10 {
                        invalidLines.append(
                            "\(options.fixturePath):\(line): byte offset \(lineStart): event of \(byteCount) bytes exceeds event-byte-count-max"
                        )
                    }
                },
                onLine: { line, lineStart, raw in
                    guard !stop else { return }
                    let bytes = unsafe [UInt8](raw)
                    fixtureEvents += 1
                    while true {
                        let now = monotonicNanoseconds()
                        if let durationNanoseconds, now - start >= durationNanoseconds {
                            stop = true
                            return
                        }
                        if now - lastProgress >= 1_000_000_000 {
                            lastProgress = now
                            showProgress(now)
                        }
                        if let rate = options.rate {
                            // Open-loop pacing: event n is due at start + n / rate.
                            let due = start + UInt64(Double(emitted) / rate * 1e9)
                            if now < due {
                                let wait = due - now
                                if wait > 200_000 { usleep(UInt32(min(wait - 100_000, 100_000) / 1_000)) }
                                continue
                            }
                        }
                        let result = pipeline.emit(bytes)
                        switch result {
                        case .accepted:
                            backoff = 50
                            emitter.recordEmit(.accepted, byteCount: bytes.count, atNanoseconds: now)
                            emitted += 1
                            return
                        case .backpressure:
                            emitter.recordEmit(.backpressured, byteCount: bytes.count, atNanoseconds: now)
                            // Back off (50 µs doubling to 1 ms): the ring holds far more than a millisecond of
                            // work, and a load generator spinning on a full ring takes CPU from the stages.
                            usleep(backoff)
                            backoff = min(backoff * 2, 1_000)
                            continue
                        case .invalid(let error):
                            emitter.recordEmit(.invalid, byteCount: bytes.count, atNanoseconds: now)
                            invalidCount += 1
                            if invalidLines.count < 10 {
                                invalidLines.append(
                                    error.located(line: line, lineStart: lineStart, source: options.fixturePath)
                                        .description
                                )
                            }
                            return
                        case .stopped:
                            stop = true
                            return
                        }
                    }
                }
            )
            if !options.loop || durationNanoseconds == nil || fixtureEvents == 0 { stop = true }
        } while !stop
        for line in invalidLines { progress("error: \(line)") }
        if invalidCount > invalidLines.count {
            progress("… \(invalidCount - invalidLines.count) more invalid lines not shown")
        }

        // Drain: wait for the deliveries of everything emitted, keeping the progress line going.
        let drainEnd = monotonicNanoseconds() + UInt64(options.drainTimeout.components.seconds) * 1_000_000_000
        while !pipeline.flush(timeoutNanoseconds: 200_000_000), monotonicNanoseconds() < drainEnd {
            showProgress(monotonicNanoseconds())
        }
        let end = monotonicNanoseconds()
        pipeline.stop()
        let statistics = pipeline.statistics
        emitter.recordMatched(pairCount: statistics.deliveriesQueued)
        let summary = LoadTestReport.Configuration(
            fixture: options.fixturePath,
            eventCount: emitted,
            rateTarget: options.rate,
            durationTarget: options.duration,
            triggerCount: triggerNames.count,
            webhookCount: configuration.webhooks.webhooks.count,
            ioBackend: recovery.ioBackend
        )
        return LoadTestReport(
            configuration: summary,
            recorders: [emitter, deliveries.withLock { $0 }],
            startNanoseconds: start,  // the first emit: the pipeline's start-up is not part of the rates
            endNanoseconds: end
        )
    }
}
