import SluiceCore
import SluiceSystem

#if canImport(Glibc)
internal import Glibc
#endif

/// The I/O of one client connection, executing what its pool's ``ConnectionStateMachine`` decides:
/// socket, buffers, optional TLS, the response parser. It reports what happened as connection events
/// (`connected`, `tlsHandshakeCompleted`, `requestWritten`, `responseStarted`, `responseCompleted`,
/// `failed`, `peerClosed`) and never decides about pools, deadlines or retries itself.
///
/// A receive stays posted from the moment the connection is established, so a server closing an idle
/// connection is noticed at once (`peerClosed` on a ready connection). At most one send and one receive
/// are outstanding; after the pool closes the connection, the object lives on (reporting nothing) until
/// both have completed. `userData` follows ``ConnectionSlots``. Not thread-safe; owned by the loop thread.
@safe final class HTTPClientConnection {
    enum Operation: UInt8 {
        case connect = 1
        case send = 2
        case receive = 3
        case housekeeping = 4
    }

    let index: Int
    let generation: UInt32
    private let pool: PoolRecord
    private let poolIndex: Int
    private let id: ConnectionID
    private var socket: Int32 = -1
    private let address = StableSocketAddress()
    private let buffers: ConnectionBuffers
    private var receiveBuffer: UnsafeMutableRawBufferPointer { unsafe buffers.receive }
    private var sendBuffer: UnsafeMutableRawBufferPointer { unsafe buffers.send }
    private var plaintextBuffer: UnsafeMutableRawBufferPointer { unsafe buffers.plaintext }
    private var sendStart = 0
    private var sendEnd = 0
    private var sendPending = false
    private var receivePending = false
    private var connectPending = false
    private var tls: TLSConnection?
    private var parser: HTTPResponseParser
    /// The pool closed this connection: complete what is outstanding, report nothing more.
    private var closing = false
    private var failed = false
    private(set) var servedCount = 0

    private var requestIndex: Int?
    private var requestBytes: [UInt8] = []
    private var requestOffset = 0
    private var requestWritten = false
    private var responseStarted = false
    private var responseHead: HTTPResponseHead?
    private var responseFields: [HTTPHeaderField] = []
    private var responseBody: [UInt8] = []

    init(
        index: Int,
        generation: UInt32,
        pool: PoolRecord,
        poolIndex: Int,
        id: ConnectionID,
        bufferByteCount: Int,
        parserLimits: HTTPParserLimits
    ) {
        self.index = index
        self.generation = generation
        self.pool = pool
        self.poolIndex = poolIndex
        self.id = id
        buffers = ConnectionBuffers(byteCount: bufferByteCount, usesTLS: pool.tlsContext != nil)
        parser = HTTPResponseParser(limits: parserLimits)
    }

    private func userData(_ operation: Operation) -> UInt64 {
        ConnectionSlots<HTTPClientConnection>.userData(
            index: index,
            operation: operation.rawValue,
            generation: generation
        )
    }

    private func report(_ event: ConnectionStateMachine.Event, driver: HTTPClientDriver) {
        guard !closing else { return }
        driver.feed(event, pool: poolIndex, id: id)
    }

    // MARK: Establishing

    func resolved(_ result: Result<SocketAddress, IOError>, driver: HTTPClientDriver) {
        guard !closing else { return finishClosing(driver: driver) }
        switch result {
        case .failure(let error):
            report(.failed(.connectionFailed("\(error)")), driver: driver)
        case .success(let resolved):
            // The SSRF guard, on the address about to be connected (not the URL's text, not an earlier
            // answer): a refused address gets no socket and no connect.
            let policy = pool.origin.addressPolicy ?? driver.configuration.addressPolicy
            guard let ipAddress = resolved.ipAddress else {
                return report(
                    .failed(.addressRefused("refused to connect to \(resolved): not IPv4 or IPv6")),
                    driver: driver
                )
            }
            if case .refused(let refusal) = policy.classify(ipAddress) {
                HTTPClientCounters.increment(driver.counters.addressesRefused)
                return report(.failed(.addressRefused(refusal.description)), driver: driver)
            }
            if let beforeConnect = driver.configuration.beforeConnect, !beforeConnect(resolved) {
                return report(
                    .failed(.connectionFailed("connect to \(resolved) vetoed by beforeConnect")),
                    driver: driver
                )
            }
            do {
                socket = try Socket.makeStream(family: resolved.family)
            } catch {
                return report(.failed(.connectionFailed("\(error)")), driver: driver)
            }
            address.set(resolved)
            connectPending = true
            HTTPClientCounters.increment(driver.counters.connectsStarted)
            // The pool's timer bounds the connect; no linked timeout is needed here.
            unsafe driver.ioBackend.connect(
                socket: socket,
                address: address.raw,
                length: address.length,
                userData: userData(.connect),
                deadlineNanoseconds: 0
            )
        }
    }

    func startTLS(driver: HTTPClientDriver) {
        do {
            tls = try TLSConnection(context: pool.tlsContext!, serverName: pool.origin.host, session: pool.session)
        } catch {
            return report(.failed(.tlsFailed("\(error)")), driver: driver)
        }
        postReceive(driver: driver)
        continueHandshake(driver: driver)
    }

    private func continueHandshake(driver: HTTPClientDriver) {
        let tls = self.tls!
        let step = tls.handshake()
        flushCiphertext(driver: driver)
        switch step {
        case .done: report(.tlsHandshakeCompleted(nowNanoseconds: monotonicNanoseconds()), driver: driver)
        case .wantsInput: break
        case .closed:
            report(.failed(.tlsFailed("the server closed the TLS session during the handshake")), driver: driver)
        case .failed(let reason): fail(.tlsFailed(reason), driver: driver)
        }
    }

    // MARK: Requests

    func start(requestBytes: [UInt8], method: HTTPMethod, requestIndex: Int, driver: HTTPClientDriver) {
        precondition(self.requestIndex == nil, "a request is already in flight on \(id)")
        self.requestIndex = requestIndex
        self.requestBytes = requestBytes
        requestOffset = 0
        requestWritten = false
        responseStarted = false
        responseHead = nil
        responseFields.removeAll(keepingCapacity: true)
        responseBody.removeAll(keepingCapacity: true)
        parser.expectResponse(to: method)
        fillSend(driver: driver)
    }

    /// Moves the next request bytes (encrypted when TLS) into the send buffer and sends them.
    private func fillSend(driver: HTTPClientDriver) {
        guard !sendPending, socket >= 0 else { return }
        if let tls {
            if tls.pendingCiphertextCount == 0, requestOffset < requestBytes.count {
                let offset = requestOffset
                let (count, _) = unsafe requestBytes.withUnsafeBytes { bytes in
                    unsafe tls.write(UnsafeRawBufferPointer(rebasing: bytes[offset...]))
                }
                requestOffset += count
            }
            flushCiphertext(driver: driver)
            return
        }
        guard requestOffset < requestBytes.count else { return }
        let count = unsafe min(sendBuffer.count, requestBytes.count - requestOffset)
        let offset = requestOffset
        unsafe requestBytes.withUnsafeBytes { bytes in
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

    private func postReceive(driver: HTTPClientDriver) {
        guard !receivePending, socket >= 0, !closing else { return }
        receivePending = true
        unsafe driver.ioBackend.receive(
            socket: socket,
            into: unsafe receiveBuffer.baseAddress!,
            capacity: receiveBuffer.count,
            userData: userData(.receive),
            deadlineNanoseconds: 0
        )
    }

    /// After a send completed: the request is written once its last byte (and its ciphertext) left.
    private func checkRequestWritten(driver: HTTPClientDriver) {
        guard let _ = requestIndex, !requestWritten, requestOffset == requestBytes.count, !sendPending else { return }
        if let tls, tls.pendingCiphertextCount > 0 { return }
        requestWritten = true
        report(.requestWritten, driver: driver)
    }

    // MARK: Completions

    func completed(_ operation: Operation, result: Int32, driver: HTTPClientDriver) {
        switch operation {
        case .connect:
            connectPending = false
            if closing { return finishClosing(driver: driver) }
            guard result == 0 else {
                return fail(
                    .connectionFailed("connect \(address.address): \(errnoDescription(-result))"),
                    driver: driver
                )
            }
            if pool.tlsContext == nil { postReceive(driver: driver) }
            report(.connected(nowNanoseconds: monotonicNanoseconds()), driver: driver)
        case .send:
            sendPending = false
            if closing { return finishClosing(driver: driver) }
            guard result > 0 else {
                return fail(.connectionFailed("send: \(errnoDescription(-result))"), driver: driver)
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
            checkRequestWritten(driver: driver)
        case .receive:
            receivePending = false
            if closing { return finishClosing(driver: driver) }
            received(result, driver: driver)
            postReceive(driver: driver)
        case .housekeeping:
            preconditionFailure("housekeeping completion routed to a connection")
        }
    }

    private func received(_ result: Int32, driver: HTTPClientDriver) {
        if result < 0 { return fail(.connectionFailed("receive: \(errnoDescription(-result))"), driver: driver) }
        if result == 0 { return endOfStream(driver: driver) }
        let bytes = unsafe UnsafeRawBufferPointer(rebasing: receiveBuffer[0..<Int(result)])
        guard let tls else { return unsafe consume(bytes, driver: driver) }
        unsafe tls.receiveCiphertext(bytes)
        if !tls.isHandshakeDone { return continueHandshake(driver: driver) }
        while !closing {
            let (count, step) = unsafe tls.read(into: plaintextBuffer)
            if count > 0 {
                unsafe consume(unsafe UnsafeRawBufferPointer(rebasing: plaintextBuffer[0..<count]), driver: driver)
                continue
            }
            switch step {
            case .done, .wantsInput: flushCiphertext(driver: driver)
            case .closed: endOfStream(driver: driver)
            case .failed(let reason): fail(.tlsFailed(reason), driver: driver)
            }
            return
        }
    }

    /// Feeds response bytes to the parser and reports its events.
    private func consume(_ bytes: UnsafeRawBufferPointer, driver: HTTPClientDriver) {
        guard let requestIndex else {
            // Bytes on an idle connection (an unsolicited response): the pool closes it.
            return report(.responseStarted, driver: driver)
        }
        if !responseStarted {
            responseStarted = true
            report(.responseStarted, driver: driver)
            if closing { return }
        }
        let typed = unsafe bytes.assumingMemoryBound(to: UInt8.self)
        var offset = 0
        while !closing {
            let step: HTTPParseStep<HTTPResponseHead>
            do {
                step = try unsafe parser.next(UnsafeBufferPointer(rebasing: typed[offset...]).span)
            } catch {
                return fail(.connectionFailed("invalid response: \(error)"), driver: driver)
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
                let keepAlive = responseHead!.keepAlive && offset == typed.count  // no pipelining: extra bytes end it
                return responseComplete(requestIndex, keepAlive: keepAlive, driver: driver)
            }
            offset += step.consumedByteCount
        }
    }

    private func responseComplete(_ requestIndex: Int, keepAlive: Bool, driver: HTTPClientDriver) {
        let head = responseHead!
        driver.recordResponse(
            requestIndex,
            head: head,
            fields: responseFields,
            body: responseBody,
            resumedTLSSession: servedCount == 0 && (tls?.resumedSession ?? false)
        )
        servedCount += 1
        self.requestIndex = nil
        requestBytes = []
        if let tls, pool.session == nil { pool.session = tls.resumableSession() }
        let event = ConnectionStateMachine.Event.responseCompleted(
            statusCode: head.statusCode,
            retryAfter: head.retryAfter,
            keepAlive: keepAlive,
            nowNanoseconds: monotonicNanoseconds()
        )
        report(event, driver: driver)
    }

    private func endOfStream(driver: HTTPClientDriver) {
        if let requestIndex, responseHead != nil {
            let end: HTTPStreamEnd
            do {
                end = try parser.finish()
            } catch {
                return fail(
                    .connectionFailed("the server closed the connection mid-response: \(error)"),
                    driver: driver
                )
            }
            if end == .messageEnded { return responseComplete(requestIndex, keepAlive: false, driver: driver) }
        }
        if tls != nil && !(tls?.isHandshakeDone ?? true) {
            return report(
                .failed(.tlsFailed("the server closed the connection during the TLS handshake")),
                driver: driver
            )
        }
        report(.peerClosed, driver: driver)
    }

    private func fail(_ outcome: DeliveryAttemptOutcome, driver: HTTPClientDriver) {
        failed = true
        report(.failed(outcome), driver: driver)
    }

    // MARK: Closing

    /// The pool closed the connection: wake outstanding operations (shutdown), then release.
    func close(driver: HTTPClientDriver) {
        guard !closing else { return }
        closing = true
        if servedCount > 0 && requestIndex == nil && !failed { tls?.markCleanShutdown() }
        if socket >= 0 && (sendPending || receivePending || connectPending) { Socket.shutdown(socket) }
        finishClosing(driver: driver)
    }

    private func finishClosing(driver: HTTPClientDriver) {
        guard closing, !sendPending, !receivePending, !connectPending else { return }
        if socket >= 0 {
            driver.ioBackend.forget(socket: socket)
            Socket.close(socket)
            socket = -1
        }
        driver.release(self)
    }

    /// The loop is ending: close the socket without waiting.
    func abandon() {
        if socket >= 0 {
            Socket.close(socket)
            socket = -1
        }
    }
}
