internal import CLibURing

#if canImport(Glibc)
internal import Glibc
#endif

/// The io_uring loop backend (liburing). Operations become SQEs in the submission queue; nothing reaches
/// the kernel until ``run(waitDeadlineNanoseconds:_:)``, which submits the whole batch and waits in one
/// `io_uring_enter` (`io_uring_submit_and_wait_timeout`). Deadlines on connect and receive are linked
/// timeouts (`IOSQE_IO_LINK` + `IORING_OP_LINK_TIMEOUT`), so the kernel cancels the operation itself.
///
/// `userData` layout on the ring:
///
///     bit 63      backend-reserved (wake-up, link-timeout CQEs)
///     bit 62      the operation carries a linked timeout (its -ECANCELED is reported as -ETIME)
///     bits 0..61  the caller's userData
///
/// Not thread-safe; owned by one loop thread.
@safe package final class URingBackend: IOBackend {
    package var kind: IOBackendKind { .uring }

    // Heap-allocated so the C struct has a stable address for its whole life (STYLE 2.2).
    private let ring: UnsafeMutablePointer<io_uring>
    private let entryCount: UInt32
    /// Timespecs of timeouts queued since the last submit; the kernel copies them while submitting.
    private let timespecs: UnsafeMutablePointer<__kernel_timespec>
    private var timespecCount = 0
    private let timespecCountMax: Int
    /// CQE pointers of one drain, and their copies (the handler may queue new SQEs while we dispatch).
    private let cqes: UnsafeMutablePointer<UnsafeMutablePointer<io_uring_cqe>?>
    private var ready: [(userData: UInt64, result: Int32)] = []
    private var wakeupDescriptor: Int32 = -1
    private let wakeupBuffer: UnsafeMutablePointer<UInt64>

    private static let linkTimeoutUserData: UInt64 = (1 << 63) | 2
    private static let linkedBit: UInt64 = 1 << 62

    /// Returns `nil` when an io_uring instance can be created here, else the errno (ENOSYS, EPERM …).
    package static func probe() -> Int32? {
        let ring = UnsafeMutablePointer<io_uring>.allocate(capacity: 1)
        defer { unsafe ring.deallocate() }
        let result = unsafe io_uring_queue_init(2, ring, 0)
        guard result == 0 else { return -result }
        unsafe io_uring_queue_exit(ring)
        return nil
    }

    /// - Parameter singleIssuer: the calling thread is the only one that will ever use the ring; then
    ///   `IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN` let the kernel run completion work only
    ///   when this thread enters (kernel 6.1+; older kernels fall back to no flags).
    package init(entryCount: UInt32 = 1024, singleIssuer: Bool = false) throws(IOError) {
        precondition(entryCount.nonzeroBitCount == 1, "io_uring entry count must be a power of two")
        let ring = UnsafeMutablePointer<io_uring>.allocate(capacity: 1)
        var result: Int32 = -EINVAL
        if singleIssuer {
            // IORING_SETUP_SINGLE_ISSUER (1 << 12) | IORING_SETUP_DEFER_TASKRUN (1 << 13); compound macros.
            result = unsafe io_uring_queue_init(entryCount, ring, (1 << 12) | (1 << 13))
        }
        if result == -EINVAL { result = unsafe io_uring_queue_init(entryCount, ring, 0) }
        guard result == 0 else {
            unsafe ring.deallocate()
            throw IOError(code: .unavailable, operation: "io_uring_queue_init", errno: -result)
        }
        unsafe self.ring = ring
        self.entryCount = entryCount
        timespecCountMax = Int(entryCount)
        unsafe timespecs = .allocate(capacity: Int(entryCount))
        unsafe cqes = .allocate(capacity: Int(entryCount))
        unsafe wakeupBuffer = .allocate(capacity: 1)
        ready.reserveCapacity(Int(entryCount))
    }

    deinit {
        unsafe io_uring_queue_exit(ring)
        unsafe ring.deallocate()
        unsafe timespecs.deallocate()
        unsafe cqes.deallocate()
        unsafe wakeupBuffer.deallocate()
    }

    package func armWakeup(descriptor: Int32) {
        wakeupDescriptor = descriptor
        let sqe = unsafe submissionEntries(1)
        unsafe io_uring_prep_read(sqe, descriptor, wakeupBuffer, 8, 0)
        unsafe io_uring_sqe_set_data64(sqe, IOBackendUserData.wakeup)
    }

    package func connect(
        socket: Int32,
        address: UnsafeRawPointer,
        length: UInt32,
        userData: UInt64,
        deadlineNanoseconds: UInt64
    ) {
        assert(userData < IOBackendUserData.reservedMin)
        let sqe = unsafe submissionEntries(deadlineNanoseconds == 0 ? 1 : 2)
        unsafe io_uring_prep_connect(sqe, socket, address.assumingMemoryBound(to: sockaddr.self), length)
        unsafe link(sqe, userData: userData, deadlineNanoseconds: deadlineNanoseconds)
    }

    package func send(socket: Int32, bytes: UnsafeRawPointer, count: Int, userData: UInt64) {
        assert(userData < IOBackendUserData.reservedMin)
        let sqe = unsafe submissionEntries(1)
        unsafe io_uring_prep_send(sqe, socket, bytes, count, Int32(MSG_NOSIGNAL))
        unsafe io_uring_sqe_set_data64(sqe, userData)
    }

    package func receive(
        socket: Int32,
        into buffer: UnsafeMutableRawPointer,
        capacity: Int,
        userData: UInt64,
        deadlineNanoseconds: UInt64
    ) {
        assert(userData < IOBackendUserData.reservedMin)
        let sqe = unsafe submissionEntries(deadlineNanoseconds == 0 ? 1 : 2)
        unsafe io_uring_prep_recv(sqe, socket, buffer, capacity, 0)
        unsafe link(sqe, userData: userData, deadlineNanoseconds: deadlineNanoseconds)
    }

    package func accept(socket: Int32, userData: UInt64) {
        assert(userData < IOBackendUserData.reservedMin)
        let sqe = unsafe submissionEntries(1)
        unsafe io_uring_prep_accept(sqe, socket, nil, nil, Int32(SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue))
        unsafe io_uring_sqe_set_data64(sqe, userData)
    }

    package func timer(deadlineNanoseconds: UInt64, userData: UInt64) {
        assert(userData < IOBackendUserData.reservedMin)
        let sqe = unsafe submissionEntries(1)
        let time = unsafe relativeTimespec(until: deadlineNanoseconds)
        unsafe io_uring_prep_timeout(sqe, time, 0, 0)
        unsafe io_uring_sqe_set_data64(sqe, userData)
    }

    package func forget(socket: Int32) {
        // io_uring keeps no per-socket state; pending operations hold their own file reference.
    }

    package func run(
        waitDeadlineNanoseconds: UInt64?,
        _ handler: (_ userData: UInt64, _ result: Int32) -> Void
    ) throws(IOError) {
        try submitAndWait(waitDeadlineNanoseconds: waitDeadlineNanoseconds)
        while true {
            let count = Int(unsafe io_uring_peek_batch_cqe(ring, cqes, entryCount))
            if count == 0 { break }
            ready.removeAll(keepingCapacity: true)
            for index in 0..<count {
                let cqe = unsafe cqes[index]!
                ready.append((unsafe cqe.pointee.user_data, unsafe cqe.pointee.res))
            }
            unsafe io_uring_cq_advance(ring, UInt32(count))
            for (userData, result) in ready { dispatch(userData: userData, result: result, handler) }
            if count < Int(entryCount) { break }
        }
    }

    private func dispatch(userData: UInt64, result: Int32, _ handler: (UInt64, Int32) -> Void) {
        if userData == Self.linkTimeoutUserData { return }  // the timeout's own CQE; its operation reports
        if userData == IOBackendUserData.wakeup {
            armWakeup(descriptor: wakeupDescriptor)
            handler(userData, result)
            return
        }
        if userData & Self.linkedBit != 0 {
            // The only canceller of a linked operation is its timeout.
            handler(userData & ~Self.linkedBit, result == -ECANCELED ? -ETIME : result)
            return
        }
        handler(userData, result)
    }

    private func submitAndWait(waitDeadlineNanoseconds: UInt64?) throws(IOError) {
        var cqe: UnsafeMutablePointer<io_uring_cqe>? = nil
        let result: Int32
        if let waitDeadlineNanoseconds {
            let now = monotonicNanoseconds()
            if waitDeadlineNanoseconds <= now {
                result = unsafe io_uring_submit(ring)
            } else {
                var time = timespecFor(nanoseconds: waitDeadlineNanoseconds - now)
                result = unsafe io_uring_submit_and_wait_timeout(ring, &cqe, 1, &time, nil)
            }
        } else {
            result = unsafe io_uring_submit_and_wait(ring, 1)
        }
        timespecCount = 0
        if result < 0 && result != -ETIME && result != -EINTR && result != -EAGAIN && result != -EBUSY {
            throw IOError(operation: "io_uring_submit_and_wait", errno: -result)
        }
    }

    /// `count` adjacent free SQEs (a linked pair must not be split by a submit); submits first when the
    /// queue or the timespec table is too full.
    private func submissionEntries(_ count: UInt32) -> UnsafeMutablePointer<io_uring_sqe> {
        if unsafe io_uring_sq_space_left(ring) < count || timespecCount + Int(count) > timespecCountMax {
            let result = unsafe io_uring_submit(ring)
            precondition(result >= 0 || result == -EAGAIN || result == -EBUSY, "io_uring_submit: \(-result)")
            timespecCount = 0
        }
        // Space was checked above; io_uring_get_sqe returns nil only on a full queue.
        return unsafe io_uring_get_sqe(ring)!
    }

    /// Sets `userData` on `sqe` and, with a deadline, links a timeout SQE behind it.
    private func link(_ sqe: UnsafeMutablePointer<io_uring_sqe>, userData: UInt64, deadlineNanoseconds: UInt64) {
        guard deadlineNanoseconds != 0 else {
            unsafe io_uring_sqe_set_data64(sqe, userData)
            return
        }
        unsafe io_uring_sqe_set_data64(sqe, userData | Self.linkedBit)
        unsafe sqe.pointee.flags |= UInt8(cliburing_sqe_flag_io_link())
        let timeout = unsafe io_uring_get_sqe(ring)!  // reserved by submissionEntries(2)
        let time = unsafe relativeTimespec(until: deadlineNanoseconds)
        unsafe io_uring_prep_link_timeout(timeout, time, 0)
        unsafe io_uring_sqe_set_data64(timeout, Self.linkTimeoutUserData)
    }

    /// A slot in the timespec table holding `deadline - now` (at least 1 ns).
    private func relativeTimespec(until deadlineNanoseconds: UInt64) -> UnsafeMutablePointer<__kernel_timespec> {
        precondition(timespecCount < timespecCountMax, "timespec table full before submit")
        let now = monotonicNanoseconds()
        let slot = unsafe timespecs + timespecCount
        timespecCount += 1
        unsafe slot.pointee = timespecFor(nanoseconds: deadlineNanoseconds > now ? deadlineNanoseconds - now : 1)
        return unsafe slot
    }

    private func timespecFor(nanoseconds: UInt64) -> __kernel_timespec {
        __kernel_timespec(tv_sec: Int64(nanoseconds / 1_000_000_000), tv_nsec: Int64(nanoseconds % 1_000_000_000))
    }
}
