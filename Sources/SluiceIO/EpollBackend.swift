internal import CLibURing

#if canImport(Glibc)
internal import Glibc
#endif

/// The epoll loop backend: the same completion interface as ``URingBackend`` built from edge-triggered
/// readiness and non-blocking system calls. Sends and connects are tried when queued; receives and accepts
/// when the socket is known to be readable, else on its next `EPOLLIN`. Deadlines and timers are kept in
/// the backend and bound the `epoll_wait` timeout.
///
/// Not thread-safe; owned by one loop thread.
@safe package final class EpollBackend: IOBackend {
    package var kind: IOBackendKind { .epoll }

    @safe private enum Operation {
        case none
        case connect
        case send(bytes: UnsafeRawPointer, count: Int)
        case receive(buffer: UnsafeMutableRawPointer, capacity: Int)
        case accept
    }

    private struct Pending {
        var operation: Operation = .none
        var userData: UInt64 = 0
        var deadlineNanoseconds: UInt64 = 0
        var isIdle: Bool {
            if case .none = operation { return true }
            return false
        }
    }

    /// Per-descriptor state, indexed by descriptor number.
    private struct DescriptorState {
        var registered = false
        /// `EPOLLOUT` is in the interest set: only while a send or connect waits (wrk's way: writable
        /// edges after every ACK would otherwise wake the loop for nothing).
        var watchesWritable = false
        /// An `EPOLLIN` edge arrived (or a receive filled its buffer) and no receive consumed it yet.
        var readable = false
        var reading = Pending()
        var writing = Pending()
    }

    private let epoll: Int32
    private var descriptors: [DescriptorState] = []
    private var timers: [(deadlineNanoseconds: UInt64, userData: UInt64)] = []
    private var deadlineOperationCount = 0
    private var ready: [(userData: UInt64, result: Int32)] = []
    private var dispatching: [(userData: UInt64, result: Int32)] = []
    private var events: [epoll_event]
    private var wakeupDescriptor: Int32 = -1

    package init(eventCountMax: Int = 256) throws(IOError) {
        epoll = try systemCall("epoll_create1") { epoll_create1(Int32(EPOLL_CLOEXEC)) }
        unsafe events = unsafe [epoll_event](repeating: epoll_event(), count: eventCountMax)
        ready.reserveCapacity(1024)
        dispatching.reserveCapacity(1024)
    }

    deinit { Socket.close(epoll) }

    package func armWakeup(descriptor: Int32) {
        wakeupDescriptor = descriptor
        var event = unsafe epoll_event()
        unsafe event.events = EPOLLIN.rawValue
        unsafe event.data.fd = descriptor
        let result = unsafe epoll_ctl(epoll, EPOLL_CTL_ADD, descriptor, &event)
        precondition(result == 0, "epoll_ctl ADD wake-up descriptor: errno \(Glibc.errno)")
    }

    package func connect(
        socket: Int32,
        address: UnsafeRawPointer,
        length: UInt32,
        userData: UInt64,
        deadlineNanoseconds: UInt64
    ) {
        register(socket)
        let result = unsafe Glibc.connect(socket, address.assumingMemoryBound(to: sockaddr.self), length)
        if result == 0 {
            ready.append((userData, 0))
            return
        }
        let code = Glibc.errno
        guard code == EINPROGRESS || code == EINTR else {
            ready.append((userData, -code))
            return
        }
        setWriting(socket, Pending(operation: .connect, userData: userData, deadlineNanoseconds: deadlineNanoseconds))
    }

    package func send(socket: Int32, bytes: UnsafeRawPointer, count: Int, userData: UInt64) {
        register(socket)
        let pending = unsafe Pending(operation: .send(bytes: bytes, count: count), userData: userData)
        if let result = attemptWrite(socket, pending) {
            ready.append((userData, result))
        } else {
            setWriting(socket, pending)
        }
    }

    package func receive(
        socket: Int32,
        into buffer: UnsafeMutableRawPointer,
        capacity: Int,
        userData: UInt64,
        deadlineNanoseconds: UInt64
    ) {
        register(socket)
        let pending = unsafe Pending(
            operation: .receive(buffer: buffer, capacity: capacity),
            userData: userData,
            deadlineNanoseconds: deadlineNanoseconds
        )
        if descriptors[Int(socket)].readable, let result = attemptRead(socket, pending) {
            ready.append((userData, result))
            return
        }
        setReading(socket, pending)
    }

    package func accept(socket: Int32, userData: UInt64) {
        register(socket)
        let pending = Pending(operation: .accept, userData: userData)
        if let result = attemptRead(socket, pending) {
            ready.append((userData, result))
            return
        }
        setReading(socket, pending)
    }

    package func timer(deadlineNanoseconds: UInt64, userData: UInt64) {
        timers.append((deadlineNanoseconds, userData))
    }

    package func forget(socket: Int32) {
        let index = Int(socket)
        guard index < descriptors.count else { return }
        if descriptors[index].reading.deadlineNanoseconds != 0 { deadlineOperationCount -= 1 }
        if descriptors[index].writing.deadlineNanoseconds != 0 { deadlineOperationCount -= 1 }
        if descriptors[index].registered {
            // Closing removes the descriptor from the epoll set too; deleting now keeps a reused number clean.
            _ = epoll_ctl(epoll, EPOLL_CTL_DEL, socket, nil)
        }
        descriptors[index] = DescriptorState()
    }

    package func run(
        waitDeadlineNanoseconds: UInt64?,
        _ handler: (_ userData: UInt64, _ result: Int32) -> Void
    ) throws(IOError) {
        let timeoutMilliseconds = ready.isEmpty ? waitMilliseconds(waitDeadlineNanoseconds) : 0
        let count = unsafe events.withUnsafeMutableBufferPointer { buffer in
            unsafe epoll_wait(epoll, buffer.baseAddress, Int32(buffer.count), timeoutMilliseconds)
        }
        if count < 0 && Glibc.errno != EINTR { throw IOError(operation: "epoll_wait", errno: Glibc.errno) }
        for index in 0..<max(0, Int(count)) { unsafe handle(events[index]) }
        expireDeadlines(now: monotonicNanoseconds())
        swap(&ready, &dispatching)
        for (userData, result) in dispatching { handler(userData, result) }
        dispatching.removeAll(keepingCapacity: true)
    }

    private func handle(_ event: epoll_event) {
        let descriptor = unsafe event.data.fd
        if descriptor == wakeupDescriptor {
            var value: UInt64 = 0
            // Non-blocking: EAGAIN means another wake-up already drained the counter.
            _ = unsafe read(descriptor, &value, 8)
            ready.append((IOBackendUserData.wakeup, 0))
            return
        }
        let index = Int(descriptor)
        let failed = unsafe event.events & (EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0
        if unsafe event.events & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue) != 0 || failed {
            descriptors[index].readable = true
            let pending = descriptors[index].reading
            if !pending.isIdle, let result = attemptRead(descriptor, pending) {
                clearReading(descriptor)
                ready.append((pending.userData, result))
            }
        }
        if unsafe event.events & EPOLLOUT.rawValue != 0 || failed {
            let pending = descriptors[index].writing
            if !pending.isIdle, let result = attemptWrite(descriptor, pending) {
                clearWriting(descriptor)
                ready.append((pending.userData, result))
            }
        }
    }

    /// The result of a read-side operation, or `nil` when it would block.
    private func attemptRead(_ descriptor: Int32, _ pending: Pending) -> Int32? {
        let index = Int(descriptor)
        switch pending.operation {
        case .receive(let buffer, let capacity):
            while true {
                let result = unsafe recv(descriptor, buffer, capacity, 0)
                if result >= 0 {
                    // A full buffer may have left bytes behind, and no new edge will announce them.
                    descriptors[index].readable = result == capacity
                    return Int32(result)
                }
                let code = Glibc.errno
                if code == EINTR { continue }
                if code == EAGAIN || code == EWOULDBLOCK {
                    descriptors[index].readable = false
                    return nil
                }
                return -code
            }
        case .accept:
            while true {
                // accept4 needs _GNU_SOURCE, which no shim sets (STYLE 2.2); two fcntl calls per accepted
                // connection are outside the data plane.
                let result = Glibc.accept(descriptor, nil, nil)
                if result >= 0 {
                    _ = fcntl(result, F_SETFL, O_NONBLOCK)
                    _ = fcntl(result, F_SETFD, FD_CLOEXEC)
                    return result
                }
                let code = Glibc.errno
                if code == EINTR || code == ECONNABORTED { continue }
                if code == EAGAIN || code == EWOULDBLOCK { return nil }
                return -code
            }
        case .none, .connect, .send:
            preconditionFailure("read-side attempt for a write-side operation")
        }
    }

    /// The result of a write-side operation, or `nil` when it would block.
    private func attemptWrite(_ descriptor: Int32, _ pending: Pending) -> Int32? {
        switch pending.operation {
        case .connect:
            return -Socket.pendingError(descriptor)
        case .send(let bytes, let count):
            while true {
                let result = unsafe Glibc.send(descriptor, bytes, count, Int32(MSG_NOSIGNAL))
                if result >= 0 { return Int32(result) }
                let code = Glibc.errno
                if code == EINTR { continue }
                if code == EAGAIN || code == EWOULDBLOCK { return nil }
                return -code
            }
        case .none, .receive, .accept:
            preconditionFailure("write-side attempt for a read-side operation")
        }
    }

    private func register(_ descriptor: Int32) {
        let index = Int(descriptor)
        if index >= descriptors.count {
            descriptors.append(contentsOf: repeatElement(DescriptorState(), count: index + 1 - descriptors.count))
        }
        guard !descriptors[index].registered else { return }
        var event = unsafe epoll_event()
        unsafe event.events = EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLET.rawValue
        unsafe event.data.fd = descriptor
        let result = unsafe epoll_ctl(epoll, EPOLL_CTL_ADD, descriptor, &event)
        precondition(result == 0, "epoll_ctl ADD \(descriptor): errno \(Glibc.errno)")
        descriptors[index].registered = true
    }

    /// Adds or removes `EPOLLOUT` (a modify also reports the socket at once if it is ready already).
    private func watchWritable(_ descriptor: Int32, _ watches: Bool) {
        let index = Int(descriptor)
        guard descriptors[index].registered, descriptors[index].watchesWritable != watches else { return }
        var event = unsafe epoll_event()
        unsafe event.events =
            EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLET.rawValue | (watches ? EPOLLOUT.rawValue : 0)
        unsafe event.data.fd = descriptor
        let result = unsafe epoll_ctl(epoll, EPOLL_CTL_MOD, descriptor, &event)
        precondition(result == 0, "epoll_ctl MOD \(descriptor): errno \(Glibc.errno)")
        descriptors[index].watchesWritable = watches
    }

    private func setReading(_ descriptor: Int32, _ pending: Pending) {
        assert(descriptors[Int(descriptor)].reading.isIdle, "two read-side operations on one socket")
        if pending.deadlineNanoseconds != 0 { deadlineOperationCount += 1 }
        descriptors[Int(descriptor)].reading = pending
    }

    private func setWriting(_ descriptor: Int32, _ pending: Pending) {
        assert(descriptors[Int(descriptor)].writing.isIdle, "two write-side operations on one socket")
        if pending.deadlineNanoseconds != 0 { deadlineOperationCount += 1 }
        descriptors[Int(descriptor)].writing = pending
        watchWritable(descriptor, true)
    }

    private func clearReading(_ descriptor: Int32) {
        if descriptors[Int(descriptor)].reading.deadlineNanoseconds != 0 { deadlineOperationCount -= 1 }
        descriptors[Int(descriptor)].reading = Pending()
    }

    private func clearWriting(_ descriptor: Int32) {
        if descriptors[Int(descriptor)].writing.deadlineNanoseconds != 0 { deadlineOperationCount -= 1 }
        descriptors[Int(descriptor)].writing = Pending()
        watchWritable(descriptor, false)
    }

    /// The `epoll_wait` timeout: until the earliest of the caller's deadline, a timer or an operation deadline.
    private func waitMilliseconds(_ waitDeadlineNanoseconds: UInt64?) -> Int32 {
        var earliest = waitDeadlineNanoseconds ?? UInt64.max
        for timer in timers { earliest = min(earliest, timer.deadlineNanoseconds) }
        if deadlineOperationCount > 0 {
            for state in descriptors {
                if state.reading.deadlineNanoseconds != 0 {
                    earliest = min(earliest, state.reading.deadlineNanoseconds)
                }
                if state.writing.deadlineNanoseconds != 0 {
                    earliest = min(earliest, state.writing.deadlineNanoseconds)
                }
            }
        }
        if earliest == UInt64.max { return -1 }
        let now = monotonicNanoseconds()
        guard earliest > now else { return 0 }
        // Round up so a wake-up never comes before the deadline (epoll_wait has millisecond resolution).
        return Int32(min((earliest - now + 999_999) / 1_000_000, UInt64(Int32.max)))
    }

    private func expireDeadlines(now: UInt64) {
        if !timers.isEmpty {
            var index = 0
            while index < timers.count {
                if timers[index].deadlineNanoseconds <= now {
                    ready.append((timers[index].userData, -ETIME))
                    timers.swapAt(index, timers.count - 1)
                    timers.removeLast()
                } else {
                    index += 1
                }
            }
        }
        guard deadlineOperationCount > 0 else { return }
        for index in descriptors.indices {
            let reading = descriptors[index].reading
            if reading.deadlineNanoseconds != 0 && reading.deadlineNanoseconds <= now {
                clearReading(Int32(index))
                ready.append((reading.userData, -ETIME))
            }
            let writing = descriptors[index].writing
            if writing.deadlineNanoseconds != 0 && writing.deadlineNanoseconds <= now {
                clearWriting(Int32(index))
                ready.append((writing.userData, -ETIME))
            }
        }
    }
}
