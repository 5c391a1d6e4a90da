package import SluiceCore
import Synchronization

#if canImport(Glibc)
internal import Glibc
#endif

/// A request the server received completely.
package struct HTTPServerRequest: Sendable {
    package var head: HTTPIncomingRequestHead
    package var headerFields: [HTTPHeaderField]
    package var body: [UInt8]
    /// `CLOCK_REALTIME` nanoseconds when the last byte arrived.
    package var arrivalWallNanoseconds: UInt64
    /// The request's position on its connection (0 for the first).
    package var indexOnConnection: Int

    /// The first value of `name` (case-insensitive).
    package func headerValue(_ name: String) -> String? {
        headerFields.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}

/// What the server does with a request: a response, possibly delayed or sent slowly, or a reset.
package struct HTTPServerReply: Sendable, Equatable {
    package var statusCode: Int
    package var headerFields: [HTTPHeaderField]
    package var body: [UInt8]
    /// Send the body with `Transfer-Encoding: chunked` (one chunk per body piece).
    package var chunked: Bool
    /// Wait this long before anything is sent.
    package var delayNanoseconds: UInt64
    /// Send the body in pieces of this many bytes (0: all at once) …
    package var bodyPieceByteCount: Int
    /// … with this pause before each piece.
    package var bodyPieceIntervalNanoseconds: UInt64
    /// Reset the connection (RST) instead of answering, after the delay.
    package var resetConnection: Bool
    /// Close the connection after the response.
    package var closeAfter: Bool
    /// With ``closeAfter``: close without announcing it (`Connection: close` left out), as a server
    /// whose keep-alive timer expires does.
    package var closeSilently: Bool = false

    package init(
        statusCode: Int,
        headerFields: [HTTPHeaderField] = [],
        body: [UInt8] = [],
        chunked: Bool = false,
        delayNanoseconds: UInt64 = 0,
        bodyPieceByteCount: Int = 0,
        bodyPieceIntervalNanoseconds: UInt64 = 0,
        resetConnection: Bool = false,
        closeAfter: Bool = false
    ) {
        self.statusCode = statusCode
        self.headerFields = headerFields
        self.body = body
        self.chunked = chunked
        self.delayNanoseconds = delayNanoseconds
        self.bodyPieceByteCount = bodyPieceByteCount
        self.bodyPieceIntervalNanoseconds = bodyPieceIntervalNanoseconds
        self.resetConnection = resetConnection
        self.closeAfter = closeAfter
    }

    /// The bytes to send, as (pause before, bytes) segments. The head comes from ``HTTPResponseEncoder``
    /// (or, for a chunked body, the same status line and fields with `Transfer-Encoding: chunked`).
    func segments(keepAlive: Bool) -> [(pauseNanoseconds: UInt64, bytes: [UInt8])] {
        let keepsAlive = keepAlive && (!closeAfter || closeSilently)
        let hasBody = !(statusCode == 204 || statusCode == 304 || statusCode < 200)
        var head: [UInt8] = []
        if chunked && hasBody {
            head.append(contentsOf: "HTTP/1.1 \(statusCode) \(HTTPResponseEncoder.reasonPhrase(statusCode))\r\n".utf8)
            for field in headerFields { head.append(contentsOf: "\(field.name): \(field.value)\r\n".utf8) }
            head.append(contentsOf: "Transfer-Encoding: chunked\r\n".utf8)
            if !keepsAlive { head.append(contentsOf: "Connection: close\r\n".utf8) }
            head.append(contentsOf: "\r\n".utf8)
        } else {
            do {
                try HTTPResponseEncoder.appendHead(
                    statusCode: statusCode,
                    headerFields: headerFields,
                    bodyByteCount: hasBody ? body.count : 0,
                    keepAlive: keepsAlive,
                    to: &head
                )
            } catch {
                // Replies are built by the library (sink plans, tests); a bad one is a programmer error.
                preconditionFailure("invalid reply \(statusCode): \(error)")
            }
        }
        guard hasBody else { return [(delayNanoseconds, head)] }
        let pieceSize = bodyPieceByteCount > 0 ? bodyPieceByteCount : max(body.count, 1)
        var pieces: [[UInt8]] = stride(from: 0, to: body.count, by: pieceSize).map {
            Array(body[$0..<min($0 + pieceSize, body.count)])
        }
        if chunked {
            pieces = pieces.map { Array((String($0.count, radix: 16) + "\r\n").utf8) + $0 + Array("\r\n".utf8) }
            pieces.append(Array("0\r\n\r\n".utf8))
        }
        if bodyPieceByteCount == 0 {
            return [(delayNanoseconds, head + pieces.joined())]
        }
        return [(delayNanoseconds, head)] + pieces.map { (bodyPieceIntervalNanoseconds, $0) }
    }
}

/// Where and how an ``HTTPServer`` listens.
package struct HTTPServerConfiguration: Sendable {
    package var backend: IOBackendSelection
    /// A loopback address (port 0 picks a free one).
    package var address: SocketAddress
    /// Serve HTTPS with this server context.
    package var tls: TLSContext?
    package var parserLimits = HTTPParserLimits()
    /// Per connection: receive, send and TLS plaintext buffers of this size (3 × 16 KiB by default).
    package var bufferByteCount = 16_384
    /// Open connections at most; a connection beyond it is closed as soon as it is accepted.
    package var connectionCountMax = 4096

    package init(backend: IOBackendSelection, address: SocketAddress, tls: TLSContext? = nil) {
        self.backend = backend
        self.address = address
        self.tls = tls
    }
}

/// An HTTP/1.1 server on one loop thread (the same backends as the client), answering each complete
/// request with what `handler` returns. Requests on a connection are answered in order. Thread-safe
/// handle; `handler` runs on the loop thread.
package final class HTTPServer: Sendable {
    private let driver: HTTPServerDriver
    private let thread: LoopThread
    /// The bound address (with the port picked when configured with 0).
    package let address: SocketAddress

    package init(
        configuration: HTTPServerConfiguration,
        handler: @escaping @Sendable (HTTPServerRequest) -> HTTPServerReply
    ) throws(IOError) {
        let listener = try Socket.makeListener(address: configuration.address)
        address = listener.address
        let driver = HTTPServerDriver(configuration: configuration, listener: listener.descriptor, handler: handler)
        self.driver = driver
        do {
            try driver.prepare()
            thread = try LoopThread(name: "sluice-server") { driver.runLoop() }
        } catch {
            Socket.close(listener.descriptor)
            throw error
        }
    }

    deinit { shutdown() }

    /// Connections accepted so far.
    package var connectionsAccepted: Int { driver.connectionsAccepted.load(ordering: .relaxed) }

    /// Stops accepting, closes every connection and ends the loop thread.
    package func shutdown() {
        driver.stop()
        thread.join()
    }
}

/// The loop-thread half of ``HTTPServer``.
final class HTTPServerDriver: @unchecked Sendable {
    // @unchecked: everything but `stopRequested`, `wakeup` and `connectionsAccepted` (atomics, eventfd)
    // is touched only by the loop thread.
    let configuration: HTTPServerConfiguration
    let handler: @Sendable (HTTPServerRequest) -> HTTPServerReply
    let listener: Int32
    let connectionsAccepted = Atomic<Int>(0)
    private let stopRequested = Atomic<Bool>(false)
    private var wakeup: LoopWakeup?
    private var backend: (any IOBackend)?
    private var slots = ConnectionSlots<HTTPServerConnection>()
    private var openConnectionCount = 0
    private static let acceptUserData: UInt64 = 0xFFFF_FFFF

    init(
        configuration: HTTPServerConfiguration,
        listener: Int32,
        handler: @escaping @Sendable (HTTPServerRequest) -> HTTPServerReply
    ) {
        self.configuration = configuration
        self.listener = listener
        self.handler = handler
    }

    func prepare() throws(IOError) {
        wakeup = try LoopWakeup()
        backend = try configuration.backend.makeBackend()
    }

    var ioBackend: any IOBackend { backend! }

    func stop() {
        stopRequested.store(true, ordering: .releasing)
        wakeup?.signal()
    }

    func runLoop() {
        let backend = self.backend!
        backend.armWakeup(descriptor: wakeup!.descriptor)
        backend.accept(socket: listener, userData: Self.acceptUserData)
        while !stopRequested.load(ordering: .acquiring) {
            do {
                try backend.run(waitDeadlineNanoseconds: nil) { userData, result in
                    handle(userData: userData, result: result)
                }
            } catch {
                break  // the loop cannot continue; shutdown() still joins and closes
            }
        }
        for case let connection? in slots.connections { connection.abandon() }
        slots.removeAll()
        Socket.close(listener)
    }

    private func handle(userData: UInt64, result: Int32) {
        if userData == IOBackendUserData.wakeup { return }
        if userData == Self.acceptUserData {
            if result >= 0 { adopt(socket: result) }
            if !stopRequested.load(ordering: .relaxed) {
                ioBackend.accept(socket: listener, userData: Self.acceptUserData)
            }
            return
        }
        let (index, code, generation) = ConnectionSlots<HTTPServerConnection>.decode(userData)
        let operation = HTTPServerConnection.Operation(rawValue: code)!
        guard let connection = slots.connection(index: index, generation: generation) else {
            // Only a timer can outlive its connection (io_uring timeouts are not cancelled): stale, ignore.
            precondition(operation == .timer, "completion \(operation) for a freed server connection")
            return
        }
        connection.completed(operation, result: result, driver: self)
    }

    private func adopt(socket: Int32) {
        connectionsAccepted.wrappingAdd(1, ordering: .relaxed)
        guard openConnectionCount < configuration.connectionCountMax else {
            Socket.close(socket)  // over the bound: the client sees a close and may retry later
            return
        }
        openConnectionCount += 1
        var one: Int32 = 1
        _ = unsafe setsockopt(socket, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        let tls: TLSConnection?
        if let context = configuration.tls {
            guard let connection = try? TLSConnection(serverContext: context) else {
                // SSL_new fails only on allocation failure; refusing this one connection is the answer.
                Socket.close(socket)
                openConnectionCount -= 1
                return
            }
            tls = connection
        } else {
            tls = nil
        }
        let (index, generation) = slots.reserve()
        let connection = HTTPServerConnection(
            index: index,
            generation: generation,
            socket: socket,
            tls: tls,
            configuration: configuration
        )
        slots.set(connection, at: index)
        connection.begin(driver: self)
    }

    func release(_ connection: HTTPServerConnection) {
        slots.release(connection.index)
        openConnectionCount -= 1
    }
}
