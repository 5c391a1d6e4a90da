// An HTTP/1.1 keep-alive load generator on one thread (epoll), for serve-bench: closed loop (as fast as the
// server answers) or open loop (requests scheduled at a fixed rate; latency from the scheduled time).
import CLinuxEvents
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What one load run measured.
struct LoadOutcome {
    /// Replies received (any status).
    var replyCount = 0
    /// Events the replies say were accepted (`check`'s verdicts summed).
    var eventCount = 0
    /// Replies `check` refused, by their first line and the start of the body (the first few kept).
    var failureCount = 0
    var failureSamples: [String] = []
    /// From the first request sent to the last reply received.
    var elapsedNanoseconds: UInt64 = 0
    /// Per reply: from the request's scheduled time (open loop) or send time (closed loop) to its complete reply.
    var latenciesNanoseconds: [UInt64] = []

    var eventsPerSecond: Double { Double(eventCount) / (Double(max(elapsedNanoseconds, 1)) / 1e9) }
    var repliesPerSecond: Double { Double(replyCount) / (Double(max(elapsedNanoseconds, 1)) / 1e9) }

    /// The `fraction` quantile of the latencies, in nanoseconds (nearest rank).
    func latencyNanoseconds(quantile fraction: Double) -> UInt64 {
        let sorted = latenciesNanoseconds.sorted()
        guard !sorted.isEmpty else { return 0 }
        let rank = Int((Double(sorted.count) * fraction).rounded(.up)) - 1
        return sorted[min(max(rank, 0), sorted.count - 1)]
    }
}

struct LoadError: Error, CustomStringConvertible {
    var description: String
}

/// How requests are started.
enum LoadPacing {
    /// Every connection sends its next request as soon as its reply is complete, for `seconds`.
    case closed(seconds: Double)
    /// Request `i` is due at start + i / `rate`; a due request waits for a free connection (its latency
    /// includes the wait). For `seconds`.
    case open(rate: Double, seconds: Double)
}

/// Monotonic nanoseconds.
func nowNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

/// Runs one load: `connections` keep-alive connections to 127.0.0.1:`port` on the calling thread.
/// - Parameters:
///   - request: the bytes of request number `index` (0, 1, 2, … across all connections).
///   - check: a reply's status code and body → the events it accepted, or nil when it is a failure.
func runLoad(
    port: UInt16,
    connections connectionCount: Int,
    pacing: LoadPacing,
    request: (Int) -> [UInt8],
    check: (Int, ArraySlice<UInt8>) -> Int?
) throws -> LoadOutcome {
    let epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
    guard epoll >= 0 else { throw LoadError(description: "epoll_create1: errno \(errno)") }
    defer { close(epoll) }
    var connections: [LoadConnection] = []
    defer { for connection in connections { close(connection.descriptor) } }
    for index in 0..<connectionCount {
        let connection = try LoadConnection(port: port)
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.u64 = UInt64(index)
        guard epoll_ctl(epoll, EPOLL_CTL_ADD, connection.descriptor, &event) == 0 else {
            throw LoadError(description: "epoll_ctl: errno \(errno)")
        }
        connections.append(connection)
    }
    // Open loop: a timerfd wakes the loop at the next scheduled send (epoll_wait's timeout is in ms).
    let timer = timerfd_create(CLOCK_MONOTONIC, Int32(TFD_CLOEXEC | TFD_NONBLOCK))
    guard timer >= 0 else { throw LoadError(description: "timerfd_create: errno \(errno)") }
    defer { close(timer) }
    var timerEvent = epoll_event()
    timerEvent.events = EPOLLIN.rawValue
    timerEvent.data.u64 = UInt64.max
    epoll_ctl(epoll, EPOLL_CTL_ADD, timer, &timerEvent)

    var outcome = LoadOutcome()
    let seconds: Double
    let intervalNanoseconds: Double
    switch pacing {
    case .closed(let duration):
        seconds = duration
        intervalNanoseconds = 0
    case .open(let rate, let duration):
        seconds = duration
        intervalNanoseconds = 1e9 / rate
    }
    let start = nowNanoseconds()
    let deadline = start + UInt64(seconds * 1e9)
    var nextIndex = 0
    var idle = Array(connections.indices.reversed())
    var outstanding = 0
    var lastReply = start

    func send(_ connectionIndex: Int, scheduled: UInt64) throws {
        let bytes = request(nextIndex)
        nextIndex += 1
        outstanding += 1
        try connections[connectionIndex].begin(bytes, scheduledNanoseconds: scheduled)
        if connections[connectionIndex].sendsPending { try watchWrites(connectionIndex, true) }
    }
    func watchWrites(_ connectionIndex: Int, _ on: Bool) throws {
        var event = epoll_event()
        event.events = EPOLLIN.rawValue | (on ? EPOLLOUT.rawValue : 0)
        event.data.u64 = UInt64(connectionIndex)
        guard epoll_ctl(epoll, EPOLL_CTL_MOD, connections[connectionIndex].descriptor, &event) == 0 else {
            throw LoadError(description: "epoll_ctl: errno \(errno)")
        }
    }
    /// Sends every request that is due now on free connections; arms the timer for the next one.
    func sendDue() throws {
        let now = nowNanoseconds()
        if intervalNanoseconds == 0 {
            while now < deadline, let connectionIndex = idle.popLast() { try send(connectionIndex, scheduled: now) }
            return
        }
        while true {
            let scheduled = start + UInt64(Double(nextIndex) * intervalNanoseconds)
            guard scheduled < deadline else { return }
            guard scheduled <= now else {
                var spec = itimerspec()
                spec.it_value = timespec(
                    tv_sec: Int(scheduled / 1_000_000_000),
                    tv_nsec: Int(scheduled % 1_000_000_000)
                )
                timerfd_settime(timer, Int32(TFD_TIMER_ABSTIME), &spec, nil)
                return
            }
            guard let connectionIndex = idle.popLast() else { return }  // sent when a connection frees
            try send(connectionIndex, scheduled: scheduled)
        }
    }

    try sendDue()
    var events = [epoll_event](repeating: epoll_event(), count: 256)
    let giveUp = deadline + 60_000_000_000
    while outstanding > 0 || (nowNanoseconds() < deadline && intervalNanoseconds > 0) {
        let ready = events.withUnsafeMutableBufferPointer { buffer in
            epoll_wait(epoll, buffer.baseAddress, Int32(buffer.count), 100)
        }
        if ready < 0 {
            if errno == EINTR { continue }
            throw LoadError(description: "epoll_wait: errno \(errno)")
        }
        if nowNanoseconds() > giveUp {
            throw LoadError(description: "\(outstanding) requests still unanswered 60 s after the run's end")
        }
        for event in events.prefix(Int(ready)) {
            let token = event.data.u64
            if token == UInt64.max {
                var expirations: UInt64 = 0
                _ = read(timer, &expirations, 8)
                continue
            }
            let connectionIndex = Int(token)
            if event.events & EPOLLOUT.rawValue != 0 {
                try connections[connectionIndex].flush()
                if !connections[connectionIndex].sendsPending { try watchWrites(connectionIndex, false) }
            }
            if event.events & (EPOLLIN.rawValue | EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 {
                while let reply = try connections[connectionIndex].receive() {
                    let done = nowNanoseconds()
                    lastReply = done
                    outstanding -= 1
                    outcome.replyCount += 1
                    outcome.latenciesNanoseconds.append(done - reply.scheduledNanoseconds)
                    if let accepted = check(reply.status, reply.body) {
                        outcome.eventCount += accepted
                    } else {
                        outcome.failureCount += 1
                        if outcome.failureSamples.count < 3 {
                            outcome.failureSamples.append(
                                "HTTP \(reply.status): " + String(decoding: reply.body.prefix(300), as: UTF8.self)
                            )
                        }
                    }
                    idle.append(connectionIndex)
                }
            }
        }
        try sendDue()
    }
    outcome.elapsedNanoseconds = lastReply - start
    return outcome
}

/// One keep-alive connection: at most one request in flight.
struct LoadConnection {
    let descriptor: Int32
    private var outgoing: [UInt8] = []
    private var outgoingOffset = 0
    private var incoming: [UInt8] = []
    private var scheduledNanoseconds: UInt64 = 0
    private var chunk = [UInt8](repeating: 0, count: 65_536)

    init(port: UInt16) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw LoadError(description: "socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                connect(descriptor, raw, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            let error = errno
            close(descriptor)
            throw LoadError(description: "connect to 127.0.0.1:\(port): errno \(error)")
        }
        var one: Int32 = 1
        setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        let flags = fcntl(descriptor, F_GETFL)
        _ = fcntl(descriptor, F_SETFL, flags | O_NONBLOCK)
        incoming.reserveCapacity(64 * 1024)
    }

    var sendsPending: Bool { outgoingOffset < outgoing.count }

    mutating func begin(_ bytes: [UInt8], scheduledNanoseconds: UInt64) throws {
        outgoing = bytes
        outgoingOffset = 0
        self.scheduledNanoseconds = scheduledNanoseconds
        try flush()
    }

    mutating func flush() throws {
        while outgoingOffset < outgoing.count {
            let written = outgoing.withUnsafeBytes { raw in
                Glibc.send(
                    descriptor,
                    raw.baseAddress! + outgoingOffset,
                    raw.count - outgoingOffset,
                    Int32(MSG_NOSIGNAL)
                )
            }
            if written < 0 {
                if errno == EAGAIN || errno == EINTR { return }
                throw LoadError(description: "send: errno \(errno)")
            }
            outgoingOffset += written
        }
    }

    /// Reads what arrived; returns a complete reply when there is one (call again until nil).
    mutating func receive() throws -> (status: Int, body: ArraySlice<UInt8>, scheduledNanoseconds: UInt64)? {
        if let reply = try parse() { return reply }
        while true {
            let descriptor = self.descriptor
            let count = chunk.withUnsafeMutableBytes { raw in recv(descriptor, raw.baseAddress, raw.count, 0) }
            if count < 0 {
                if errno == EAGAIN || errno == EINTR { return nil }
                throw LoadError(description: "recv: errno \(errno)")
            }
            if count == 0 { throw LoadError(description: "the server closed a keep-alive connection") }
            incoming += chunk.prefix(count)
            if let reply = try parse() { return reply }
        }
    }

    /// A complete `HTTP/1.1 NNN …` reply with a Content-Length body at the start of `incoming`, consumed.
    private mutating func parse() throws -> (status: Int, body: ArraySlice<UInt8>, scheduledNanoseconds: UInt64)? {
        guard let headerEnd = Self.find([13, 10, 13, 10], in: incoming) else { return nil }
        let head = String(decoding: incoming[..<headerEnd], as: UTF8.self)
        let lines = head.split(separator: "\r\n")
        guard let statusLine = lines.first, statusLine.hasPrefix("HTTP/1.1 "),
            let status = Int(statusLine.dropFirst(9).prefix(3))
        else { throw LoadError(description: "not an HTTP/1.1 reply: \(head.prefix(100))") }
        var contentLength: Int?
        for line in lines.dropFirst() {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "content-length" {
                contentLength = Int(parts[1].trimmingCharacters(in: .whitespaces))
            }
        }
        guard let length = contentLength else {
            throw LoadError(description: "a reply without Content-Length: \(head.prefix(200))")
        }
        let bodyStart = headerEnd + 4
        guard incoming.count >= bodyStart + length else { return nil }
        let body = incoming[bodyStart..<(bodyStart + length)]
        incoming.removeFirst(bodyStart + length)
        return (status, body, scheduledNanoseconds)
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for index in 0...(haystack.count - needle.count) where haystack[index] == needle[0] {
            if haystack[index..<(index + needle.count)].elementsEqual(needle) { return index }
        }
        return nil
    }
}
