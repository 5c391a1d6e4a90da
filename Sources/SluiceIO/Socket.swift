package import SluiceCore

#if canImport(Glibc)
internal import Glibc
#endif

/// An IPv4 or IPv6 socket address (a copy of `sockaddr_storage` with its length), a value type.
package struct SocketAddress: Sendable, Hashable, CustomStringConvertible {
    var storage: sockaddr_storage
    var length: socklen_t

    init(storage: sockaddr_storage, length: socklen_t) {
        self.storage = storage
        self.length = length
    }

    /// A numeric IPv4 or IPv6 host (`127.0.0.1`, `::1`) and a port; `nil` when `host` is not numeric.
    package init?(numericHost host: String, port: UInt16) {
        var address4 = sockaddr_in()
        if unsafe inet_pton(AF_INET, host, &address4.sin_addr) == 1 {
            address4.sin_family = sa_family_t(AF_INET)
            address4.sin_port = port.bigEndian
            self.init(copying: address4)
            return
        }
        var address6 = sockaddr_in6()
        if unsafe inet_pton(AF_INET6, host, &address6.sin6_addr) == 1 {
            address6.sin6_family = sa_family_t(AF_INET6)
            address6.sin6_port = port.bigEndian
            self.init(copying: address6)
            return
        }
        return nil
    }

    /// Copies a `sockaddr_in` or `sockaddr_in6` into the storage.
    private init<Address>(copying address: Address) {
        var storage = sockaddr_storage()
        unsafe withUnsafeMutableBytes(of: &storage) { target in
            unsafe withUnsafeBytes(of: address) { source in unsafe target.copyMemory(from: source) }
        }
        self.init(storage: storage, length: socklen_t(MemoryLayout<Address>.size))
    }

    package func hash(into hasher: inout Hasher) {
        unsafe withUnsafeBytes(of: storage) { raw in
            unsafe hasher.combine(bytes: UnsafeRawBufferPointer(rebasing: raw.prefix(Int(length))))
        }
    }

    package var family: Int32 { Int32(storage.ss_family) }

    package var port: UInt16 {
        get {
            unsafe withUnsafeBytes(of: storage) { raw in
                // sin_port and sin6_port share the offset right after the family.
                UInt16(bigEndian: unsafe raw.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
            }
        }
        set {
            unsafe withUnsafeMutableBytes(of: &storage) { raw in
                unsafe raw.storeBytes(of: newValue.bigEndian, toByteOffset: 2, as: UInt16.self)
            }
        }
    }

    /// The IP address (without the port), for the SSRF guard (``AddressPolicy``); `nil` for a family other
    /// than IPv4 and IPv6.
    package var ipAddress: IPAddress? {
        // sin_addr is at byte 4 of a sockaddr_in, sin6_addr at byte 8 of a sockaddr_in6.
        let range: Range<Int>
        switch family {
        case AF_INET: range = 4..<8
        case AF_INET6: range = 8..<24
        default: return nil
        }
        let bytes = unsafe withUnsafeBytes(of: storage) { raw in unsafe Array(raw[range]) }
        return IPAddress(bytes: bytes)
    }

    package var description: String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        let capacity = socklen_t(text.count)
        unsafe withUnsafeBytes(of: storage) { raw in
            let offset = family == AF_INET ? 4 : 8  // sin_addr / sin6_addr
            _ = unsafe inet_ntop(family, raw.baseAddress! + offset, &text, capacity)
        }
        let host = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return family == AF_INET6 ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    package static func == (left: SocketAddress, right: SocketAddress) -> Bool {
        guard left.length == right.length else { return false }
        return unsafe withUnsafeBytes(of: left.storage) { leftBytes in
            unsafe withUnsafeBytes(of: right.storage) { rightBytes in
                unsafe leftBytes.prefix(Int(left.length)).elementsEqual(rightBytes.prefix(Int(right.length)))
            }
        }
    }
}

/// A socket address at a fixed heap address, for operations that read it after the call that queues them
/// (an io_uring connect reads it at submission). Not thread-safe.
@safe package final class StableSocketAddress {
    let pointer: UnsafeMutablePointer<sockaddr_storage>
    package private(set) var length: UInt32 = 0

    package init() {
        unsafe pointer = .allocate(capacity: 1)
        unsafe pointer.initialize(to: sockaddr_storage())
    }

    deinit { unsafe pointer.deallocate() }

    package func set(_ address: SocketAddress) {
        unsafe pointer.pointee = address.storage
        length = address.length
    }

    package var raw: UnsafeRawPointer { unsafe UnsafeRawPointer(pointer) }

    package var address: SocketAddress { unsafe SocketAddress(storage: pointer.pointee, length: length) }
}

/// Socket system calls the loops share. Every socket is non-blocking and close-on-exec.
package enum Socket {
    /// A TCP socket for `family`, non-blocking, with `TCP_NODELAY` (requests are written whole).
    package static func makeStream(family: Int32) throws(IOError) -> Int32 {
        let socketType = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        let descriptor = try systemCall("socket") { Glibc.socket(family, socketType, 0) }
        var one: Int32 = 1
        _ = try closingOnError(descriptor) { () throws(IOError) in
            try systemCall("setsockopt TCP_NODELAY") {
                unsafe setsockopt(
                    descriptor,
                    Int32(IPPROTO_TCP),
                    TCP_NODELAY,
                    &one,
                    socklen_t(MemoryLayout<Int32>.size)
                )
            }
        }
        return descriptor
    }

    /// A listening TCP socket bound to `address` (port 0 picks a free one); returns it and the bound address.
    package static func makeListener(
        address: SocketAddress,
        backlog: Int32 = 1024
    ) throws(IOError) -> (
        descriptor: Int32, address: SocketAddress
    ) {
        let descriptor = try makeStream(family: address.family)
        return try closingOnError(descriptor) { () throws(IOError) in
            var one: Int32 = 1
            _ = try systemCall("setsockopt SO_REUSEADDR") {
                unsafe setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            }
            var storage = address.storage
            _ = try systemCall("bind", subject: address.description) {
                unsafe withUnsafePointer(to: &storage) { pointer in
                    unsafe pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                        unsafe bind(descriptor, socketAddress, address.length)
                    }
                }
            }
            _ = try systemCall("listen", subject: address.description) { listen(descriptor, backlog) }
            var bound = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            _ = try systemCall("getsockname") {
                unsafe withUnsafeMutablePointer(to: &bound) { pointer in
                    unsafe pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                        unsafe getsockname(descriptor, socketAddress, &length)
                    }
                }
            }
            return (descriptor, SocketAddress(storage: bound, length: length))
        }
    }

    /// The pending error of a socket (`SO_ERROR`), used after a non-blocking connect.
    package static func pendingError(_ descriptor: Int32) -> Int32 {
        var code: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        let result = unsafe getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &code, &length)
        return result == 0 ? code : Glibc.errno
    }

    /// Shuts both directions down, so a pending receive on either backend completes (with 0 bytes).
    package static func shutdown(_ descriptor: Int32) {
        // ENOTCONN (never connected) is the only expected failure and means there is nothing to wake.
        _ = Glibc.shutdown(descriptor, Int32(SHUT_RDWR))
    }

    /// Sets `SO_LINGER` to zero, so the next close sends a reset instead of a FIN (fault injection).
    package static func setResetOnClose(_ descriptor: Int32) {
        var value = linger(l_onoff: 1, l_linger: 0)
        // Best effort: if it fails, the connection closes normally, which the peer also sees as a close.
        _ = unsafe setsockopt(descriptor, SOL_SOCKET, SO_LINGER, &value, socklen_t(MemoryLayout<linger>.size))
    }

    /// Closes a descriptor. The only failure, EINTR after the descriptor is released, leaves nothing to do.
    package static func close(_ descriptor: Int32) {
        _ = Glibc.close(descriptor)
    }

    static func closingOnError<Result>(
        _ descriptor: Int32,
        _ body: () throws(IOError) -> Result
    ) throws(IOError) -> Result {
        do {
            return try body()
        } catch {
            // The body's error is the one worth reporting; close cannot fail usefully here.
            _ = Glibc.close(descriptor)
            throw error
        }
    }
}
