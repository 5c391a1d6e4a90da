import SluiceCore

#if canImport(Glibc)
internal import Glibc
#endif

/// One client connection: socket, buffers, optional TLS, the response parser and the request in flight.
///
/// `userData` of its operations follows ``ConnectionSlots``. At most one send and one receive are outstanding; the connection is freed only when neither is.
/// Not thread-safe; owned by the client's loop thread.
@safe final class HTTPClientConnection {
    enum Operation: UInt8 {
        case connect = 1
        case send = 2
        case receive = 3
        case housekeeping = 4
    }

    private enum State {
        case resolving, connecting, handshaking, idle, active, closing
    }

    let index: Int
    let generation: UInt32
    let pool: HTTPPool
    private var state = State.resolving
    private var socket: Int32 = -1
    private let address = StableSocketAddress()
    private let receiveBuffer: UnsafeMutableRawBufferPointer
    private let sendBuffer: UnsafeMutableRawBufferPointer
    private let plaintextBuffer: UnsafeMutableRawBufferPointer
    private var sendStart = 0
    private var sendEnd = 0
    private var sendPending = false
    private var receivePending = false
    private var tls: TLSConnection?
    private var parser: HTTPResponseParser
    private(set) var wasEstablished = false
    /// A transport or TLS failure ended the connection (its TLS session is then not kept resumable).
    private var failed = false
    private var connectDeadlineNanoseconds: UInt64 = 0

    private var pending: PendingRequest?
    private var requestOffset = 0
    private var responseHead: HTTPResponseHead?
    private var responseFields: [HTTPHeaderField] = []
    private var responseBody: [UInt8] = []
    private var responseByteCount = 0
    private var servedCount = 0

    init(index: Int, generation: UInt32, pool: HTTPPool, bufferByteCount: Int, parserLimits: HTTPParserLimits) {
        self.index = index
        self.generation = generation
        self.pool = pool
        unsafe receiveBuffer = .allocate(byteCount: bufferByteCount, alignment: 64)
        unsafe sendBuffer = .allocate(byteCount: bufferByteCount, alignment: 64)
        unsafe plaintextBuffer = .allocate(byteCount: pool.tlsContext == nil ? 1 : bufferByteCount, alignment: 64)
        parser = HTTPResponseParser(limits: parserLimits)
    }

    deinit {
        unsafe receiveBuffer.deallocate()
        unsafe sendBuffer.deallocate()
        unsafe plaintextBuffer.deallocate()
    }

    private func userData(_ operation: Operation) -> UInt64 {
        ConnectionSlots<HTTPClientConnection>.userData(
            index: index,
            operation: operation.rawValue,
            generation: generation
        )
    }

    // MARK: Establishing

    func resolved(_ result: Result<SocketAddress, IOError>, driver: HTTPClientDriver) {
        guard state == .resolving else { return }  // abandoned while the lookup ran
        switch result {
        case .failure(let error):
            establishFailed(.connection, "\(error)", driver: driver)
        case .success(let resolved):
            do {
                socket = try Socket.makeStream(family: resolved.family)
            } catch {
                establishFailed(.connection, "\(error)", driver: driver)
                return
            }
            address.set(resolved)
            state = .connecting
            connectDeadlineNanoseconds = monotonicNanoseconds() + driver.configuration.connectTimeoutNanoseconds
            sendPending = true  // a connect occupies the write side
            unsafe driver.ioBackend.connect(
                socket: socket,
                address: address.raw,
                length: address.length,
                userData: userData(.connect),
                deadlineNanoseconds: connectDeadlineNanoseconds
            )
        }
    }

    private func connected(driver: HTTPClientDriver) {
        guard let context = pool.tlsContext else {
            becomeIdle(driver: driver)
            return
        }
        do {
            tls = try TLSConnection(context: context, serverName: pool.origin.host, session: pool.session)
        } catch {
            establishFailed(.tls, "\(error)", driver: driver)
            return
        }
        state = .handshaking
        continueHandshake(driver: driver)
    }

    private func continueHandshake(driver: HTTPClientDriver) {
        let tls = self.tls!
        let step = tls.handshake()
        flushCiphertext(driver: driver)
        switch step {
        case .done:
            becomeIdle(driver: driver)
        case .wantsInput:
            postReceive(deadlineNanoseconds: connectDeadlineNanoseconds, driver: driver)
        case .closed:
            establishFailed(.tls, "the server closed the connection during the TLS handshake", driver: driver)
        case .failed(let reason):
            establishFailed(.tls, reason, driver: driver)
        }
    }

    private func becomeIdle(driver: HTTPClientDriver) {
        if !wasEstablished {
            wasEstablished = true
            pool.openingCount -= 1
        }
        state = .idle
        pool.idle.append(index)
        driver.pump(pool)
    }

    private func establishFailed(_ kind: HTTPClientFailure.Kind, _ message: String, driver: HTTPClientDriver) {
        driver.connectFailed(pool, kind: kind, message: message)
        close(driver: driver)
    }

    // MARK: Requests

    func start(_ pending: PendingRequest, driver: HTTPClientDriver) {
        precondition(state == .idle, "start on a connection in state \(state)")
        state = .active
        self.pending = pending
        requestOffset = 0
        responseHead = nil
        responseFields.removeAll(keepingCapacity: true)
        responseBody.removeAll(keepingCapacity: true)
        responseByteCount = 0
        parser.expectResponse(to: pending.request.method)
        fillSend(driver: driver)
        postReceive(deadlineNanoseconds: pending.deadlineNanoseconds, driver: driver)
    }

    /// Moves the next request bytes (encrypted when TLS) into the send buffer and sends them.
    private func fillSend(driver: HTTPClientDriver) {
        guard !sendPending, socket >= 0 else { return }
        if let tls {
            if tls.pendingCiphertextCount == 0, let pending, requestOffset < pending.request.bytes.count {
                let offset = requestOffset
                let (count, _) = unsafe pending.request.bytes.withUnsafeBytes { bytes in
                    unsafe tls.write(UnsafeRawBufferPointer(rebasing: bytes[offset...]))
                }
                requestOffset += count
            }
            flushCiphertext(driver: driver)
            return
        }
        guard let pending, requestOffset < pending.request.bytes.count else { return }
        let count = unsafe min(sendBuffer.count, pending.request.bytes.count - requestOffset)
        let offset = requestOffset
        unsafe pending.request.bytes.withUnsafeBytes { bytes in
            unsafe sendBuffer.baseAddress!.copyMemory(from: bytes.baseAddress! + offset, byteCount: count)
        }
        requestOffset += count
        send(count: count, driver: driver)
    }

    private func flushCiphertext(driver: HTTPClientDriver) {
        guard !sendPending, socket >= 0, let tls else { return }
        let count = unsafe tls.takeCiphertext(into: sendBuffer)
        if count > 0 { send(count: count, driver: driver) }
    }

    private func send(count: Int, driver: HTTPClientDriver) {
        sendStart = 0
        sendEnd = count
        sendPending = true
        unsafe driver.ioBackend.send(
            socket: socket,
            bytes: unsafe UnsafeRawPointer(sendBuffer.baseAddress!),
            count: count,
            userData: userData(.send)
        )
    }

    private func postReceive(deadlineNanoseconds: UInt64, driver: HTTPClientDriver) {
        guard !receivePending, socket >= 0 else { return }
        receivePending = true
        unsafe driver.ioBackend.receive(
            socket: socket,
            into: unsafe receiveBuffer.baseAddress!,
            capacity: receiveBuffer.count,
            userData: userData(.receive),
            deadlineNanoseconds: deadlineNanoseconds
        )
    }

    // MARK: Completions

    func completed(_ operation: Operation, result: Int32, driver: HTTPClientDriver) {
        switch operation {
        case .connect:
            sendPending = false
            if state == .closing { return finishClosing(driver: driver) }
            if result == 0 { return connected(driver: driver) }
            let reason = result == -ETIME ? "connect timed out" : "connect: \(errnoDescription(-result))"
            establishFailed(result == -ETIME ? .timeout : .connection, "\(reason) (\(address.address))", driver: driver)
        case .send:
            sendPending = false
            if state == .closing { return finishClosing(driver: driver) }
            guard result > 0 else {
                return transportFailed(.connection, "send: \(errnoDescription(-result))", driver: driver)
            }
            sendStart += Int(result)
            if sendStart < sendEnd {
                sendPending = true
                unsafe driver.ioBackend.send(
                    socket: socket,
                    bytes: unsafe UnsafeRawPointer(sendBuffer.baseAddress! + sendStart),
                    count: sendEnd - sendStart,
                    userData: userData(.send)
                )
                return
            }
            fillSend(driver: driver)
        case .receive:
            receivePending = false
            if state == .closing { return finishClosing(driver: driver) }
            received(result, driver: driver)
        case .housekeeping:
            preconditionFailure("housekeeping completion routed to a connection")
        }
    }

    private func received(_ result: Int32, driver: HTTPClientDriver) {
        if result == -ETIME {
            let message = state == .handshaking ? "TLS handshake timed out" : "no complete response before the deadline"
            return transportFailed(.timeout, message, driver: driver)
        }
        if result < 0 { return transportFailed(.connection, "receive: \(errnoDescription(-result))", driver: driver) }
        if result == 0 { return endOfStream(driver: driver) }
        let bytes = unsafe UnsafeRawBufferPointer(rebasing: receiveBuffer[0..<Int(result)])
        if let tls {
            unsafe tls.receiveCiphertext(bytes)
            if state == .handshaking { return continueHandshake(driver: driver) }
            readPlaintext(tls, driver: driver)
        } else {
            unsafe consume(bytes, driver: driver)
        }
        if state == .active, let pending {
            postReceive(deadlineNanoseconds: pending.deadlineNanoseconds, driver: driver)
        }
    }

    private func readPlaintext(_ tls: TLSConnection, driver: HTTPClientDriver) {
        while state == .active {
            let (count, step) = unsafe tls.read(into: plaintextBuffer)
            if count > 0 {
                unsafe consume(unsafe UnsafeRawBufferPointer(rebasing: plaintextBuffer[0..<count]), driver: driver)
                continue
            }
            switch step {
            case .done, .wantsInput: flushCiphertext(driver: driver)
            case .closed: endOfStream(driver: driver)
            case .failed(let reason): transportFailed(.tls, reason, driver: driver)
            }
            return
        }
    }

    /// Feeds response bytes to the parser and acts on its events.
    private func consume(_ bytes: UnsafeRawBufferPointer, driver: HTTPClientDriver) {
        guard state == .active else {
            // Bytes on an idle connection: the server sent something unasked; it cannot be trusted further.
            return transportFailed(
                .protocolViolation,
                "\(bytes.count) unexpected bytes on an idle connection",
                driver: driver
            )
        }
        responseByteCount += bytes.count
        let typed = unsafe bytes.assumingMemoryBound(to: UInt8.self)
        var offset = 0
        while true {
            let step: HTTPParseStep<HTTPResponseHead>
            do {
                step = try unsafe parser.next(UnsafeBufferPointer(rebasing: typed[offset...]).span)
            } catch {
                return transportFailed(.protocolViolation, "\(error)", driver: driver)
            }
            switch step.event {
            case .needMoreBytes:
                return
            case .head(let head):
                responseHead = head
                let fields = parser.headerFields
                for fieldIndex in 0..<fields.count where driver.configuration.collectsHeaderFields {
                    responseFields.append(HTTPHeaderField(fields.name(at: fieldIndex), fields.value(at: fieldIndex)))
                }
            case .body(let range):
                let keep = min(range.count, driver.configuration.bodyByteCountMax - responseBody.count)
                if keep > 0 {
                    let start = offset + range.lowerBound
                    unsafe responseBody.append(
                        contentsOf: unsafe UnsafeBufferPointer(rebasing: typed[start..<(start + keep)])
                    )
                }
            case .end:
                offset += step.consumedByteCount
                if offset < typed.count {
                    return transportFailed(
                        .protocolViolation,
                        "bytes after the response (no pipelining)",
                        driver: driver
                    )
                }
                return responseComplete(driver: driver)
            }
            offset += step.consumedByteCount
        }
    }

    private func responseComplete(driver: HTTPClientDriver) {
        let pending = self.pending!
        let head = responseHead!
        let response = HTTPClientResponse(
            head: head,
            headerFields: responseFields,
            body: responseBody,
            reusedConnection: servedCount > 0,
            resumedTLSSession: servedCount == 0 && (tls?.resumedSession ?? false),
            latencyNanoseconds: monotonicNanoseconds() - pending.submittedNanoseconds
        )
        servedCount += 1
        self.pending = nil
        if let tls, pool.session == nil { pool.session = tls.resumableSession() }
        if head.keepAlive {
            state = .idle
            pool.idle.append(index)
            driver.succeed(pending, response)
            driver.pump(pool)
        } else {
            close(driver: driver)
            driver.succeed(pending, response)
        }
    }

    private func endOfStream(driver: HTTPClientDriver) {
        if state == .handshaking {
            return establishFailed(.tls, "the server closed the connection during the TLS handshake", driver: driver)
        }
        guard state == .active, let pending else { return close(driver: driver) }
        let end: HTTPStreamEnd
        do {
            end = try parser.finish()
        } catch {
            return transportFailed(
                .connection,
                "the server closed the connection mid-response: \(error)",
                driver: driver
            )
        }
        if end == .messageEnded && responseHead != nil { return responseComplete(driver: driver) }
        if responseByteCount == 0 && servedCount > 0 && !pending.retriedOnStaleConnection {
            // The server closed the kept-alive connection before it saw this request: send it again once
            // on another connection (nothing of it was processed, or the server would have answered).
            var retry = pending
            retry.retriedOnStaleConnection = true
            self.pending = nil
            HTTPClientCounters.increment(driver.counters.staleConnectionRetries)
            driver.requeueAtFront(retry, pool: pool)
            return close(driver: driver)
        }
        transportFailed(.connection, "the server closed the connection before the response completed", driver: driver)
    }

    // MARK: Closing

    private func transportFailed(_ kind: HTTPClientFailure.Kind, _ message: String, driver: HTTPClientDriver) {
        failed = true
        if state == .handshaking || state == .connecting || state == .resolving {
            return establishFailed(kind, message, driver: driver)
        }
        if let pending {
            self.pending = nil
            close(driver: driver)
            driver.fail(pending, kind, origin: pool.origin, message)
            return
        }
        close(driver: driver)
    }

    /// Closes now, or after the outstanding operations complete (shutdown wakes them).
    func close(driver: HTTPClientDriver) {
        if state == .closing { return }
        if let position = pool.idle.firstIndex(of: index) { pool.idle.remove(at: position) }
        state = .closing
        if socket >= 0 && (sendPending || receivePending) {
            Socket.shutdown(socket)
            return
        }
        finishClosing(driver: driver)
    }

    private func finishClosing(driver: HTTPClientDriver) {
        guard !sendPending && !receivePending else { return }
        if servedCount > 0 && pending == nil && !failed { tls?.markCleanShutdown() }
        if socket >= 0 {
            driver.ioBackend.forget(socket: socket)
            Socket.close(socket)
            socket = -1
        }
        if let pending {
            self.pending = nil
            driver.fail(pending, .connection, origin: pool.origin, "connection closed")
        }
        driver.release(self)
    }

    /// The client is stopping: fail the request in flight and close the socket without waiting.
    func abandon(driver: HTTPClientDriver, message: String) {
        if let pending {
            self.pending = nil
            driver.fail(pending, .overloaded, origin: pool.origin, message)
        }
        if socket >= 0 {
            Socket.close(socket)
            socket = -1
        }
    }
}
