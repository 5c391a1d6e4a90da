public import SluiceCore
import SluiceSystem

#if canImport(Glibc)
internal import Glibc
#endif

/// What `sluice emit` does: completes an event (id, `occurred`), makes it a child of the workflow run's
/// event when asked (``WorkflowEventContext/makingChild(_:)``), checks it as the pipeline would, and sends it —
/// to the running workflow's `SLUICE_EMIT_FD`, or to a server's `POST /api/events` (plain HTTP/1.1).
public enum EventEmitter {
    /// `line` (one event's JSON) made ready to send: `id` (a random v4 UUID) and `occurred` (now) added
    /// when missing, the parent/child shape from `parent` when given.
    /// - Throws: ``EventEmitterError`` naming what is wrong, with the decoder's field and offset.
    public static func prepare(
        _ line: [UInt8],
        parent: WorkflowEventContext?,
        now: Timestamp,
        newID: EventID
    ) throws(EventEmitterError) -> [UInt8] {
        var json: JSONValue
        do {
            json = try JSONValue.parse(line)
        } catch {
            throw EventEmitterError(message: "not JSON: \(error)")
        }
        guard var object = json.objectValue else { throw EventEmitterError(message: "an event must be a JSON object") }
        if object["id"] == nil { object.members.append(.init("id", .string(newID.description))) }
        if object["occurred"] == nil {
            object.members.insert(
                .init("occurred", .string(String(decoding: now.formatted(.prefect), as: UTF8.self))),
                at: 0
            )
        }
        if object["payload"] == nil { object.members.append(.init("payload", .object([:]))) }
        json = .object(object)
        if let parent {
            do throws(WorkflowContextError) {
                json = try parent.makingChild(json)
            } catch {
                throw EventEmitterError(message: "\(error)")
            }
        }
        let bytes = json.encoded()
        var decoder = EventDecoder()
        do {
            _ = try decoder.decode(bytes)
        } catch {
            throw EventEmitterError(message: "not a valid event: \(error)")
        }
        return bytes
    }

    /// Writes `bytes` and a newline to descriptor `descriptor` (a workflow's `SLUICE_EMIT_FD`), whole.
    public static func writeLine(_ bytes: [UInt8], descriptor: Int32) throws(SystemCallError) {
        let line = bytes + [0x0A]
        var written = 0
        while written < line.count {
            let count = try systemCall("write", path: "SLUICE_EMIT_FD \(descriptor)") {
                unsafe line.withUnsafeBytes { raw in
                    unsafe write(descriptor, raw.baseAddress! + written, raw.count - written)
                }
            }
            written += count
        }
    }

    /// POSTs `body` to `<server>/api/events` (`server`: `http://HOST:PORT`), with the bearer `token` when
    /// given. Returns the status and the reply's body. Plain HTTP only (a workflow talks to its own server).
    public static func post(
        _ body: [UInt8],
        server: String,
        token: String?
    ) throws(EventEmitterError) -> (
        status: Int, body: String
    ) {
        guard server.hasPrefix("http://") else {
            throw EventEmitterError(message: "--server must be http://HOST:PORT, not '\(server)'")
        }
        var authority = String(server.dropFirst("http://".count))
        while authority.hasSuffix("/") { authority.removeLast() }
        guard let colon = authority.lastIndex(of: ":"), let port = UInt16(authority[authority.index(after: colon)...])
        else {
            throw EventEmitterError(message: "--server must name a port: http://HOST:PORT, not '\(server)'")
        }
        let host = String(authority[..<colon]).trimmingBrackets
        var request = "POST /api/events HTTP/1.1\r\nHost: \(authority)\r\nContent-Type: application/json\r\n"
        request += "Content-Length: \(body.count)\r\nConnection: close\r\n"
        if let token { request += "Authorization: Bearer \(token)\r\n" }
        let reply = try exchange(Array((request + "\r\n").utf8) + body, host: host, port: port)
        guard let headEnd = reply.firstRange(of: Array("\r\n\r\n".utf8)) else {
            throw EventEmitterError(message: "the server's reply has no complete head")
        }
        let statusLine = String(
            decoding: reply[..<(reply.firstRange(of: Array("\r\n".utf8))?.lowerBound ?? headEnd.lowerBound)],
            as: UTF8.self
        )
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else {
            throw EventEmitterError(message: "the server's status line does not parse: '\(statusLine)'")
        }
        return (status, String(decoding: reply[headEnd.upperBound...], as: UTF8.self))
    }

    /// Connects (numeric address or name via `getaddrinfo`), sends `request` and reads to the end (10 s
    /// for each step).
    private static func exchange(_ request: [UInt8], host: String, port: UInt16) throws(EventEmitterError) -> [UInt8] {
        var hints = unsafe addrinfo()
        unsafe hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var found: UnsafeMutablePointer<addrinfo>?
        let resolved = unsafe getaddrinfo(host, String(port), &hints, &found)
        guard resolved == 0, let first = unsafe found else {
            throw EventEmitterError(
                message: "cannot resolve '\(host)': \(unsafe String(cString: gai_strerror(resolved)))"
            )
        }
        defer { unsafe freeaddrinfo(first) }
        let descriptor = unsafe socket(
            first.pointee.ai_family,
            Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue),
            0
        )
        guard descriptor >= 0 else { throw EventEmitterError(message: "socket: errno \(errno)") }
        defer { _ = close(descriptor) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        _ = unsafe setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        _ = unsafe setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard unsafe connect(descriptor, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            throw EventEmitterError(message: "cannot connect to \(host):\(port): errno \(errno)")
        }
        var sent = 0
        while sent < request.count {
            let count = unsafe request.withUnsafeBytes { raw in
                unsafe send(descriptor, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL))
            }
            guard count > 0 else {
                throw EventEmitterError(message: "sending to \(host):\(port) failed: errno \(errno)")
            }
            sent += count
        }
        var reply: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while reply.count < 16 << 20 {
            let count = unsafe chunk.withUnsafeMutableBytes { unsafe recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count == 0 { break }
            guard count > 0 else {
                if errno == EINTR { continue }
                throw EventEmitterError(message: "reading the reply of \(host):\(port) failed: errno \(errno)")
            }
            reply.append(contentsOf: chunk[0..<count])
        }
        return reply
    }
}

/// Why `sluice emit` could not send an event.
public struct EventEmitterError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}

extension String {
    fileprivate var trimmingBrackets: String {
        hasPrefix("[") && hasSuffix("]") ? String(dropFirst().dropLast()) : self
    }
}
