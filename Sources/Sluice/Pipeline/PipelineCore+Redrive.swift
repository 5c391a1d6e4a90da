import SluiceCore
import SluiceStorage
import Synchronization

extension PipelineCore {
    // MARK: Redrive while running

    /// Journals a `redrive_requested` record for each of `entries`, waits until they are durable, then hands
    /// the pairs to the matcher, which queues their deliveries again (attempts from 1, the same `webhook-id`).
    /// The records come first: a crash after them makes the next start re-send the pairs (recovery reads
    /// `redrive_requested` as "not final"), and a delivery's own outcome records always follow its request in
    /// the log. Returns `false` when the records did not become durable within `timeoutNanoseconds`.
    func redrive(_ entries: [DeliveryOutcomeRecord], timeoutNanoseconds: UInt64) -> Bool {
        precondition(!entries.isEmpty, "a redrive names at least one dead letter")
        let now = Timestamp.now()
        let records = entries.map { entry in
            var request = entry
            request.outcome = .redriveRequested
            request.attempt = 0
            request.statusCode = nil
            request.failureClass = nil
            request.message = "redrive requested"
            request.at = now
            return LogRecord(
                type: .deliveryOutcome,
                timestampMicroseconds: now.microsecondsSinceEpoch,
                body: request.encoded()
            )
        }
        let ticket = queueControl(records)
        guard waitUntilDurable(ticket: ticket, timeoutNanoseconds: timeoutNanoseconds) else { return false }
        redriveRequests.withLock { requests in
            requests.append(
                contentsOf: entries.map { RedriveRequest(eventSequence: $0.eventSequence, webhook: $0.webhook) }
            )
        }
        redriveSignal.raise()
        return true
    }

    /// The matcher's turn for redrive requests: each pair is queued again, or counted in
    /// ``PipelineCounters/redrivesSkipped`` (webhook no longer configured or no longer sent the event, the pair
    /// not final any more, the event unreadable).
    func redriveTurn(_ state: inout MatcherState) {
        guard redriveSignal.take() else { return }
        let requests = redriveRequests.withLock { requests in
            defer { requests.removeAll() }
            return requests
        }
        if routingGeneration.load(ordering: .acquiring) != state.routing.generation { followRouting(&state) }
        var touched: Set<Int> = []
        for request in requests {
            if let shard = redriveOne(request, state: &state) {
                touched.insert(shard)
            } else {
                PipelineCounters.add(counters.redrivesSkipped)
            }
        }
        for shard in touched { shards[shard].wakeUp() }
    }

    /// Queues one redriven pair; returns its shard, or `nil` when it is skipped.
    private func redriveOne(_ request: RedriveRequest, state: inout MatcherState) -> Int? {
        guard let webhook = state.routing.definitions.firstIndex(where: { $0.name == request.webhook }) else {
            return nil
        }
        var found: StoredRecord?
        do {
            _ = try LogReader.forEachRecord(
                directory: configuration.log.directory,
                fromSequence: request.eventSequence,
                toSequence: request.eventSequence + 1
            ) { record in
                if record.type == .event { found = record }
            }
        } catch {
            return nil
        }
        guard let record = found else { return nil }
        var undecodable: [String] = []
        let decoded = ingest.withLock { ingestState in
            Self.decodeRecovered(record, state: &ingestState, undecodable: &undecodable)
        }
        guard let event = decoded else { return nil }
        var pairs = Self.deliveries(of: event, matcher: &state.matcher, hits: &state.hits, routing: state.routing)
        let firing =
            state.routing.hasStatefulTriggers
            ? Self.firingDeliveries(of: event, pairs: &pairs, routing: state.routing) : nil
        guard let position = pairs.firstIndex(where: { $0.webhook == webhook }) else { return nil }
        // The tracker learns of the delivery before the shard can see it (as for a read-back).
        guard tracker.reopen(request.eventSequence, slot: state.trackerSlots[webhook]) else { return nil }
        let job = DeliveryJob(
            routing: state.routing,
            webhook: webhook,
            trigger: pairs[position].trigger,
            eventSequence: request.eventSequence,
            eventID: event.header.id,
            body: position < (firing?.count ?? 0) ? firing!.body : event.webhookBody(),
            firstAttempt: 1,
            budget: state.budgetOfWebhook[webhook],
            emittedNanoseconds: 0,
            durableNanoseconds: 0,
            matchedNanoseconds: monotonicNanoseconds()
        )
        let shard = state.routing.shardOfWebhook[webhook]
        // `false` only when a stop gave up: the pair stays pending, and the next start re-sends it (its last
        // record is the durable `redrive_requested`).
        guard push(job, toShard: shard) else { return nil }
        PipelineCounters.add(counters.redriven)
        return shard
    }
}
