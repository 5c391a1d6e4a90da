import SluiceCore

#if canImport(Glibc)
internal import Glibc
#endif

/// One accepted connection of ``HTTPServer``: receive, parse, ask the handler, send the reply segments
/// (with their pauses), repeat. `userData` follows ``ConnectionSlots``. Not thread-safe; owned by the server's loop thread.
@safe final class HTTPServerConnection {
    enum Operation: UInt8 {
        case send = 2
        case receive = 3
        case timer = 5
    }

    private enum State {
        case reading, replying, closing
    }

    let index: Int
    let generation: UInt32
    private let socket: Int32
    private let tls: TLSConnection?
    private let buffers: ConnectionBuffers
    private var receiveBuffer: UnsafeMutableRawBufferPointer { unsafe buffers.receive }
    private var sendBuffer: UnsafeMutableRawBufferPointer { unsafe buffers.send }
    private var plaintextBuffer: UnsafeMutableRawBufferPointer { unsafe buffers.plaintext }
    private var parser: HTTPRequestParser
    private let bodyByteCountMax: UInt64
    private var state = State.reading
    private var sendPending = false
    private var receivePending = false
    private var timerPending = false
    private var sendStart = 0
    private var sendEnd = 0
    private var closed = false

    private var head: HTTPIncomingRequestHead?
    private var fields: [HTTPHeaderField] = []
    private var body: [UInt8] = []
    private var requestCount = 0
    /// Received plaintext not yet parsed (bytes after a request while its reply is sent).
    private var unparsed: [UInt8] = []

    private var segments: [(pauseNanoseconds: UInt64, bytes: [UInt8])] = []
    private var segmentIndex = 0
    private var segmentOffset = 0
    private var closeAfterReply = false
    private var resetAfterPause = false

    init(index: Int, generation: UInt32, socket: Int32, tls: TLSConnection?, configuration: HTTPServerConfiguration) {
        self.index = index
        self.generation = generation
        self.socket = socket
        self.tls = tls
        buffers = ConnectionBuffers(byteCount: configuration.bufferByteCount, usesTLS: tls != nil)
        parser = HTTPRequestParser(limits: configuration.parserLimits)
        bodyByteCountMax = configuration.parserLimits.bodyByteCountMax
    }

    private func userData(_ operation: Operation) -> UInt64 {
        ConnectionSlots<HTTPServerConnection>.userData(
            index: index,
            operation: operation.rawValue,
            generation: generation
        )
    }

    func begin(driver: HTTPServerDriver) {
        postReceive(driver: driver)
    }

    private func postReceive(driver: HTTPServerDriver) {
        guard !receivePending, !closed else { return }
        receivePending = true
        unsafe driver.ioBackend.receive(
            socket: socket,
            into: unsafe receiveBuffer.baseAddress!,
            capacity: receiveBuffer.count,
            userData: userData(.receive),
            deadlineNanoseconds: 0
        )
    }

    func completed(_ operation: Operation, result: Int32, driver: HTTPServerDriver) {
        switch operation {
        case .receive:
            receivePending = false
            if state == .closing { return finishClosing(driver: driver) }
            if result <= 0 { return close(driver: driver) }
            unsafe received(unsafe UnsafeRawBufferPointer(rebasing: receiveBuffer[0..<Int(result)]), driver: driver)
        case .send:
            sendPending = false
            if state == .closing { return finishClosing(driver: driver) }
            if result <= 0 { return close(driver: driver) }
            sendStart += Int(result)
            if sendStart < sendEnd { return sendRange(driver: driver) }
            continueSending(driver: driver)
        case .timer:
            timerPending = false
            if state == .closing { return finishClosing(driver: driver) }
            if resetAfterPause { return reset(driver: driver) }
            sendSegment(driver: driver)
        }
    }

    private func received(_ bytes: UnsafeRawBufferPointer, driver: HTTPServerDriver) {
        if let tls {
            unsafe tls.receiveCiphertext(bytes)
            if !tls.isHandshakeDone {
                switch tls.handshake() {
                case .done, .wantsInput: break
                case .closed, .failed: return flushThenClose(driver: driver)
                }
            }
            while tls.isHandshakeDone {
                let (count, step) = unsafe tls.read(into: plaintextBuffer)
                if count > 0 {
                    unsafe unparsed.append(
                        contentsOf: unsafe UnsafeRawBufferPointer(rebasing: plaintextBuffer[0..<count])
                    )
                    continue
                }
                if case .failed = step { return close(driver: driver) }
                if case .closed = step { return close(driver: driver) }
                break
            }
            flushCiphertext(driver: driver)
        } else {
            unsafe unparsed.append(contentsOf: bytes)
        }
        if state == .reading { parseUnparsed(driver: driver) }
    }

    /// Parses stashed bytes until a request is complete (then replies) or more bytes are needed.
    private func parseUnparsed(driver: HTTPServerDriver) {
        var offset = 0
        defer { unparsed.removeFirst(min(offset, unparsed.count)) }
        while state == .reading {
            let step: HTTPParseStep<HTTPIncomingRequestHead>
            do {
                step = unsafe try unparsed.withUnsafeBufferPointer { buffer in
                    try unsafe parser.next(Span(_unsafeElements: UnsafeBufferPointer(rebasing: buffer[offset...])))
                }
            } catch let error as HTTPParseError {
                offset = unparsed.count
                return reply(
                    HTTPServerReply(statusCode: error.suggestedResponseStatus, closeAfter: true),
                    driver: driver
                )
            } catch {
                preconditionFailure("the parser throws only HTTPParseError")
            }
            switch step.event {
            case .needMoreBytes:
                offset = unparsed.count
                return postReceive(driver: driver)
            case .head(let requestHead):
                head = requestHead
                fields.removeAll(keepingCapacity: true)
                let received = parser.headerFields
                for fieldIndex in 0..<received.count {
                    fields.append(HTTPHeaderField(received.name(at: fieldIndex), received.value(at: fieldIndex)))
                }
                body.removeAll(keepingCapacity: true)
            case .body(let range):
                let start = offset + range.lowerBound
                body.append(contentsOf: unparsed[start..<(start + range.count)])
            case .end:
                offset += step.consumedByteCount
                let request = HTTPServerRequest(
                    head: head!,
                    headerFields: fields,
                    body: body,
                    arrivalWallNanoseconds: wallClockNanoseconds(),
                    indexOnConnection: requestCount
                )
                requestCount += 1
                return reply(driver.handler(request), driver: driver)
            }
            offset += step.consumedByteCount
        }
    }

    private func reply(_ reply: HTTPServerReply, driver: HTTPServerDriver) {
        state = .replying
        let keepAlive = head?.keepAlive ?? false
        closeAfterReply = reply.closeAfter || !keepAlive
        resetAfterPause = reply.resetConnection
        segments = reply.resetConnection ? [(reply.delayNanoseconds, [])] : reply.segments(keepAlive: keepAlive)
        segmentIndex = 0
        segmentOffset = 0
        startSegment(driver: driver)
    }

    /// Waits for the current segment's pause (if any), then sends it.
    private func startSegment(driver: HTTPServerDriver) {
        guard segmentIndex < segments.count else { return replyFinished(driver: driver) }
        let pause = segments[segmentIndex].pauseNanoseconds
        if pause > 0 {
            timerPending = true
            driver.ioBackend.timer(deadlineNanoseconds: monotonicNanoseconds() + pause, userData: userData(.timer))
            return
        }
        if resetAfterPause { return reset(driver: driver) }
        sendSegment(driver: driver)
    }

    /// Sends (the rest of) the current segment: through TLS, or copied into the send buffer.
    private func sendSegment(driver: HTTPServerDriver) {
        guard segmentIndex < segments.count else { return replyFinished(driver: driver) }
        let bytes = segments[segmentIndex].bytes
        if segmentOffset >= bytes.count {
            segmentIndex += 1
            segmentOffset = 0
            return startSegment(driver: driver)
        }
        let offset = segmentOffset
        if let tls {
            let (count, _) = unsafe bytes.withUnsafeBytes { raw in
                unsafe tls.write(UnsafeRawBufferPointer(rebasing: raw[offset...]))
            }
            segmentOffset += count
            return flushCiphertext(driver: driver)
        }
        let count = unsafe min(sendBuffer.count, bytes.count - offset)
        unsafe bytes.withUnsafeBytes { raw in
            unsafe sendBuffer.baseAddress!.copyMemory(from: raw.baseAddress! + offset, byteCount: count)
        }
        segmentOffset += count
        sendStart = 0
        sendEnd = count
        sendRange(driver: driver)
    }

    private func sendRange(driver: HTTPServerDriver) {
        sendPending = true
        unsafe driver.ioBackend.send(
            socket: socket,
            bytes: unsafe UnsafeRawPointer(sendBuffer.baseAddress! + sendStart),
            count: sendEnd - sendStart,
            userData: userData(.send)
        )
    }

    private func flushCiphertext(driver: HTTPServerDriver) {
        guard !sendPending, let tls else { return }
        let count = unsafe tls.takeCiphertext(into: sendBuffer)
        guard count > 0 else { return }
        sendStart = 0
        sendEnd = count
        sendRange(driver: driver)
    }

    /// A send finished: more ciphertext, the rest of the segment, or the next segment.
    private func continueSending(driver: HTTPServerDriver) {
        if let tls, tls.pendingCiphertextCount > 0 { return flushCiphertext(driver: driver) }
        if state == .replying { return sendSegment(driver: driver) }
        if state == .reading && closeAfterReply { return close(driver: driver) }
    }

    private func replyFinished(driver: HTTPServerDriver) {
        if closeAfterReply { return flushThenClose(driver: driver) }
        state = .reading
        head = nil
        parseUnparsed(driver: driver)
    }

    private func flushThenClose(driver: HTTPServerDriver) {
        flushCiphertext(driver: driver)
        if sendPending {
            state = .reading
            closeAfterReply = true
            return
        }
        close(driver: driver)
    }

    private func reset(driver: HTTPServerDriver) {
        Socket.setResetOnClose(socket)
        close(driver: driver)
    }

    private func close(driver: HTTPServerDriver) {
        guard state != .closing else { return }
        state = .closing
        if sendPending || receivePending || timerPending {
            // Wakes the receive and the send; a pending timer fires on its own.
            Socket.shutdown(socket)
        }
        finishClosing(driver: driver)
    }

    private func finishClosing(driver: HTTPServerDriver) {
        guard !sendPending && !receivePending && !timerPending, !closed else { return }
        closed = true
        driver.ioBackend.forget(socket: socket)
        Socket.close(socket)
        driver.release(self)
    }

    /// The server is stopping: close without waiting for outstanding operations.
    func abandon() {
        guard !closed else { return }
        closed = true
        Socket.close(socket)
    }
}
