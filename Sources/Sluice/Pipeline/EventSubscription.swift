public import SluiceCore
import SluiceIO
import SluiceStorage
import Synchronization

/// One event a subscription delivered: its log sequence (the cursor to resume after) and its stored bytes.
public struct SubscribedEvent: Sendable, Equatable {
    public var sequence: UInt64
    public var bytes: [UInt8]
}

/// Why a subscription ended other than by its consumer cancelling it.
public enum EventSubscriptionEnd: Error, Sendable, Equatable, CustomStringConvertible {
    /// The consumer fell behind: `limit` matching events were waiting unread.
    case overflow(limit: Int)
    /// The log could not be read (a damaged frame, a segment removed by retention before it was read).
    case logFailed(String)
    /// The pipeline is stopping.
    case stopped

    public var description: String {
        switch self {
        case .overflow(let limit):
            "the subscriber fell behind: \(limit) events were waiting unread (the buffer limit)"
        case .logFailed(let reason): "the log could not be read: \(reason)"
        case .stopped: "the pipeline is stopping"
        }
    }
}

/// A live stream of the events that match an ``EventQuery``, each handed out once it is durable, in log
/// order (``Pipeline/subscribe(query:after:bufferLimit:)``).
///
/// A reader thread of its own follows the log with a ``LogFollower`` bounded by (and sleeping on) the
/// writer's ``DurableCursor``: it reads only when the cursor moves, never on a timer (it wakes at most
/// every ``cancellationCheckNanoseconds`` to notice a cancellation, without reading). Matching events go to
/// a buffer of at most `bufferLimit` events; a consumer that lets it fill is cut off
/// (``EventSubscriptionEnd/overflow(limit:)``) instead of slowing the pipeline or other subscribers: the
/// writer never waits for a subscriber.
///
/// Iterate it once (one consumer); ``cancel()`` from any thread ends it.
public final class EventSubscription: AsyncSequence, Sendable {
    public typealias Element = SubscribedEvent
    public typealias Failure = any Error

    /// How often a reader thread with nothing to read checks whether it was cancelled.
    public static let cancellationCheckNanoseconds: UInt64 = 250_000_000

    /// The sequence the stream starts at (the first event it may deliver).
    public let firstSequence: UInt64
    public let bufferLimit: Int
    let state: Mutex<State>
    /// Called on the reader thread when the subscription ends by itself (overflow, log failure, stop).
    let onEnd: (@Sendable (EventSubscriptionEnd) -> Void)?

    struct State: ~Copyable {
        var buffer: [SubscribedEvent] = []
        var head = 0
        var end: EventSubscriptionEnd?
        var cancelled = false
        var waiter: CheckedContinuation<Void, Never>?
        var thread: LoopThread?
        var threadFinished = false
    }

    init(firstSequence: UInt64, bufferLimit: Int, onEnd: (@Sendable (EventSubscriptionEnd) -> Void)?) {
        self.firstSequence = firstSequence
        self.bufferLimit = bufferLimit
        self.onEnd = onEnd
        state = Mutex(State())
    }

    /// Starts the reader thread (``Pipeline/subscribe(query:after:bufferLimit:)``).
    func start(
        directory: String,
        cursor: DurableCursor,
        query: EventQuery,
        isRunning: @escaping @Sendable () -> Bool
    )
        throws(IOError)
    {
        let thread = try LoopThread(name: "sluice-subscr") { [self] in
            read(directory: directory, cursor: cursor, query: query, isRunning: isRunning)
            let own = state.withLock { state in
                state.threadFinished = true
                return state.thread.take()
            }
            own?.join()  // on its own thread: detaches
        }
        let finished = state.withLock { state in
            if !state.threadFinished { state.thread = thread }
            return state.threadFinished
        }
        if finished { thread.join() }  // it already ended: reap it
    }

    /// The reader thread's loop.
    private func read(
        directory: String,
        cursor: DurableCursor,
        query: EventQuery,
        isRunning: @escaping @Sendable () -> Bool
    ) {
        let follower = LogFollower(directory: directory, cursor: cursor, fromSequence: firstSequence)
        var decoder = EventDecoder()
        var header = EventHeader()
        var stop = false
        while !stop {
            if state.withLock({ $0.cancelled || $0.end != nil }) { return }
            if !isRunning() {
                finish(.stopped)
                return
            }
            do throws(SegmentLogError) {
                try unsafe follower.next(timeoutNanoseconds: Self.cancellationCheckNanoseconds) {
                    sequence,
                    type,
                    _,
                    body in
                    guard !stop, type == .event else { return }
                    let bytes = unsafe Array(body)
                    do throws(EventDecodingError) {
                        try decoder.decodeHeader(bytes, into: &header)
                    } catch {
                        return  // a stored event that no longer decodes matches nothing (as in queries)
                    }
                    guard query.matches(Event(header: header, bytes: bytes), symbols: decoder.symbols) else { return }
                    if !push(SubscribedEvent(sequence: sequence, bytes: bytes)) { stop = true }
                }
            } catch {
                finish(.logFailed("\(error)"))
                return
            }
        }
    }

    /// Adds an event for the consumer; `false` (and the subscription ended) when the buffer was full.
    private func push(_ event: SubscribedEvent) -> Bool {
        let (accepted, waiter) = state.withLock { state -> (Bool, CheckedContinuation<Void, Never>?) in
            guard state.end == nil, !state.cancelled else { return (false, nil) }
            if state.buffer.count - state.head >= bufferLimit {
                state.end = .overflow(limit: bufferLimit)
                state.buffer = []
                state.head = 0
            } else {
                state.buffer.append(event)
            }
            let waiter = state.waiter
            state.waiter = nil
            return (state.end == nil, waiter)
        }
        waiter?.resume()
        if !accepted, let end = self.end { onEnd?(end) }
        return accepted
    }

    private func finish(_ end: EventSubscriptionEnd) {
        let (waiter, first) = state.withLock { state -> (CheckedContinuation<Void, Never>?, Bool) in
            let first = state.end == nil && !state.cancelled
            if state.end == nil { state.end = end }
            let waiter = state.waiter
            state.waiter = nil
            return (waiter, first)
        }
        waiter?.resume()
        if first { onEnd?(end) }
    }

    /// Ends the subscription: the consumer's next call returns `nil`; the reader thread ends within
    /// ``cancellationCheckNanoseconds``.
    public func cancel() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.cancelled = true
            state.buffer = []
            state.head = 0
            let waiter = state.waiter
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    /// Whether the subscription ended by overflow (checked without consuming).
    public var end: EventSubscriptionEnd? { state.withLock { $0.end } }

    enum Step {
        case event(SubscribedEvent)
        case finished
        case failed(EventSubscriptionEnd)
        case wait
    }

    /// The next event; `nil` after ``cancel()``; throws ``EventSubscriptionEnd`` when the stream was cut off
    /// (an overflow drops what was buffered: the consumer resumes from its last cursor).
    func next() async throws -> SubscribedEvent? {
        while true {
            let step = state.withLock { state -> Step in
                if state.cancelled { return .finished }
                if case .overflow = state.end { return .failed(state.end!) }
                if state.head < state.buffer.count {
                    let event = state.buffer[state.head]
                    state.head += 1
                    if state.head == state.buffer.count || state.head >= 4_096 {
                        state.buffer.removeFirst(state.head)
                        state.head = 0
                    }
                    return .event(event)
                }
                if let end = state.end { return .failed(end) }
                return .wait
            }
            switch step {
            case .event(let event): return event
            case .finished: return nil
            case .failed(let end): throw end
            case .wait:
                await withTaskCancellationHandler {
                    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                        let resumeNow = state.withLock { state -> Bool in
                            if state.cancelled || state.end != nil || state.head < state.buffer.count { return true }
                            state.waiter = continuation
                            return false
                        }
                        if resumeNow { continuation.resume() }
                    }
                } onCancel: {
                    cancel()
                }
            }
        }
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let subscription: EventSubscription

        public mutating func next() async throws -> SubscribedEvent? { try await subscription.next() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(subscription: self) }
}

/// A subscription that cannot start.
public struct EventSubscriptionError: Error, Sendable, CustomStringConvertible {
    public var description: String
}

extension Pipeline {
    /// Most events a subscriber's buffer may hold (``subscribe(query:after:bufferLimit:)``).
    public static let subscriptionBufferLimitMax = 1_000_000

    /// A live stream of the durable events that match `query` (its filters only: order, paging and
    /// cursor are ignored), in log order, from the event after `after` (a sequence a previous
    /// subscription delivered: nothing is missed or repeated) or, without it, from the events that become
    /// durable from now on.
    ///
    /// Each subscription reads the log on a thread of its own, woken by the durable cursor; the pipeline
    /// never waits for it (see ``EventSubscription``).
    /// - Throws: ``EventSubscriptionError`` when the pipeline is not running, `after` is beyond the log's
    ///   end, `bufferLimit` is out of range or no thread can be started.
    /// - Parameter onEnd: Called on the subscription's reader thread when it ends by itself (its consumer
    ///   fell behind, the log failed, the pipeline stops), e.g. to close a connection whose writes are stuck.
    public func subscribe(
        query: EventQuery,
        after: UInt64?,
        bufferLimit: Int,
        onEnd: (@Sendable (EventSubscriptionEnd) -> Void)? = nil
    ) throws(EventSubscriptionError) -> EventSubscription {
        guard (1...Self.subscriptionBufferLimitMax).contains(bufferLimit) else {
            throw EventSubscriptionError(
                description: "bufferLimit must be from 1 to \(Self.subscriptionBufferLimitMax), not \(bufferLimit)"
            )
        }
        guard let cursor = durableCursor, failure == nil else {
            throw EventSubscriptionError(description: "the pipeline is not running")
        }
        let current = cursor.current
        var first = current
        if let after {
            guard after < current else {
                throw EventSubscriptionError(
                    description: "after: \(after) is not a sequence of the log (its durable end is \(current))"
                )
            }
            first = after + 1
        }
        let subscription = EventSubscription(firstSequence: first, bufferLimit: bufferLimit, onEnd: onEnd)
        let core = self.core
        do {
            try subscription.start(directory: configuration.log.directory, cursor: cursor, query: query) {
                !core.stopping.load(ordering: .acquiring)
            }
        } catch {
            throw EventSubscriptionError(description: "no thread for the subscription: \(error)")
        }
        return subscription
    }
}
