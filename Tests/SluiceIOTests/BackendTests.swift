import Glibc
import SluiceSystem
import Testing

@testable import SluiceIO

/// The backends this machine can run, each with a skip reason when it cannot (io_uring disabled).
enum Backends {
    static let uringUnavailable: String? = URingBackend.probe().map {
        "io_uring unavailable here (io_uring_queue_init: \(errnoDescription($0))); io_uring tests skipped"
    }

    static let all: [IOBackendKind] = {
        if let uringUnavailable {
            print(uringUnavailable)
            return [.epoll]
        }
        return [.uring, .epoll]
    }()

    static func make(_ kind: IOBackendKind) throws -> any IOBackend {
        try IOBackendSelection(kind: kind, reason: "test").makeBackend()
    }
}

/// Runs `backend` until `done` returns true or 5 s pass; returns whether `done` became true.
func runUntil(
    _ backend: any IOBackend,
    handler: (UInt64, Int32) -> Void,
    done: () -> Bool
) throws -> Bool {
    let deadline = monotonicNanoseconds() + 5_000_000_000
    while !done() {
        if monotonicNanoseconds() > deadline { return false }
        try backend.run(waitDeadlineNanoseconds: monotonicNanoseconds() + 100_000_000, handler)
    }
    return true
}

/// A listener, a client socket connecting to it, and the completions seen so far, on one backend.
final class LoopbackPair {
    let backend: any IOBackend
    let listener: (descriptor: Int32, address: SocketAddress)
    let client: Int32
    let address = StableSocketAddress()
    var results: [UInt64: Int32] = [:]

    init(_ kind: IOBackendKind) throws {
        backend = try Backends.make(kind)
        listener = try Socket.makeListener(address: SocketAddress(numericHost: "127.0.0.1", port: 0)!)
        client = try Socket.makeStream(family: AF_INET)
        address.set(listener.address)
    }

    deinit {
        backend.forget(socket: client)
        Socket.close(client)
        Socket.close(listener.descriptor)
    }

    func connect(userData: UInt64, deadlineNanoseconds: UInt64) {
        backend.connect(
            socket: client,
            address: address.raw,
            length: address.length,
            userData: userData,
            deadlineNanoseconds: deadlineNanoseconds
        )
    }

    func run(until done: (LoopbackPair) -> Bool) throws -> Bool {
        try runUntil(backend, handler: { userData, result in self.results[userData] = result }, done: { done(self) })
    }
}

/// The raw completion interface on both backends against real loopback sockets.
@Suite(.timeLimit(.minutes(1))) struct BackendTests {
    @Test(arguments: Backends.all) func connectSendReceiveAccept(kind: IOBackendKind) throws {
        let pair = try LoopbackPair(kind)
        let backend = pair.backend
        let client = pair.client
        backend.accept(socket: pair.listener.descriptor, userData: 1)
        pair.connect(userData: 2, deadlineNanoseconds: monotonicNanoseconds() + 2_000_000_000)
        #expect(try pair.run { $0.results[1] != nil && $0.results[2] != nil })
        #expect(pair.results[2] == 0, "connect result \(pair.results[2] ?? 99)")
        let server = try #require(pair.results[1].flatMap { $0 >= 0 ? $0 : nil })
        defer { Socket.close(server) }

        let message = Array("hello, loop".utf8)
        let source = UnsafeMutableRawBufferPointer.allocate(byteCount: message.count, alignment: 8)
        defer { source.deallocate() }
        source.copyBytes(from: message)
        let received = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 8)
        defer { received.deallocate() }
        backend.receive(
            socket: server,
            into: received.baseAddress!,
            capacity: received.count,
            userData: 3,
            deadlineNanoseconds: monotonicNanoseconds() + 2_000_000_000
        )
        backend.send(socket: client, bytes: source.baseAddress!, count: source.count, userData: 4)
        #expect(try pair.run { $0.results[3] != nil && $0.results[4] != nil })
        #expect(pair.results[4] == Int32(message.count))
        #expect(pair.results[3] == Int32(message.count))
        #expect(Array(received.prefix(message.count)) == message)

        // Closing the peer completes a pending receive with 0 bytes.
        backend.receive(socket: server, into: received.baseAddress!, capacity: 64, userData: 5, deadlineNanoseconds: 0)
        Socket.shutdown(client)
        #expect(try pair.run { $0.results[5] != nil })
        #expect(pair.results[5] == 0)
        backend.forget(socket: server)
    }

    @Test(arguments: Backends.all) func receiveDeadlineAndTimer(kind: IOBackendKind) throws {
        let pair = try LoopbackPair(kind)
        let backend = pair.backend
        pair.connect(userData: 1, deadlineNanoseconds: 0)
        #expect(try pair.run { $0.results[1] != nil })
        let received = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 8)
        defer { received.deallocate() }
        let start = monotonicNanoseconds()
        backend.receive(
            socket: pair.client,
            into: received.baseAddress!,
            capacity: 16,
            userData: 2,
            deadlineNanoseconds: start + 50_000_000
        )
        backend.timer(deadlineNanoseconds: start + 20_000_000, userData: 3)
        #expect(try pair.run { $0.results[2] != nil && $0.results[3] != nil })
        let elapsed = monotonicNanoseconds() - start
        #expect(pair.results[2] == -ETIME, "a receive past its deadline completes with -ETIME")
        #expect(pair.results[3] == -ETIME || pair.results[3] == 0)
        #expect(elapsed >= 50_000_000)
    }

    /// Shows up as skipped, with the reason, where io_uring is unavailable (the parameterised suites then
    /// run their epoll cases only).
    @Test(.enabled(if: Backends.uringUnavailable == nil, "io_uring unavailable: io_uring cases are skipped"))
    func uringIsAvailable() throws {
        let backend = try URingBackend(entryCount: 8)
        #expect(backend.kind == .uring)
    }

    @Test func selectionHonoursOverride() throws {
        #expect(try IOBackendSelection.detect(override: "epoll").kind == .epoll)
        #expect(throws: IOError.self) { try IOBackendSelection.detect(override: "kqueue") }
        let detected = try IOBackendSelection.detect(override: nil)
        #expect(detected.kind == (Backends.uringUnavailable == nil ? .uring : .epoll))
        #expect(detected.description.hasPrefix("I/O backend: "))
    }
}
