/// HTTP protocol version of a received message. Only 1.0 and 1.1 are accepted.
public enum HTTPVersion: Hashable, Sendable {
    case http10
    case http11

    /// Parses `HTTP/1.0` or `HTTP/1.1`.
    static func parse(_ bytes: ArraySlice<UInt8>) -> HTTPVersion? {
        guard bytes.count == 8, bytes.starts(with: "HTTP/1.".utf8) else { return nil }
        switch bytes[bytes.endIndex - 1] {
        case UInt8(ascii: "0"): return .http10
        case UInt8(ascii: "1"): return .http11
        default: return nil
        }
    }
}

/// How a message body is delimited (RFC 9112 §6.3).
public enum HTTPBodyFraming: Hashable, Sendable {
    /// `Content-Length` bytes (0 for no body).
    case length(UInt64)
    /// `Transfer-Encoding: chunked`, ending with the last chunk and trailers.
    case chunked
    /// A response body that ends when the server closes the connection.
    case untilClose
}

/// What the framing-relevant header fields of one head say, gathered in one pass.
struct HTTPHeadFacts: Sendable {
    var contentLength: UInt64?
    var hasTransferEncoding = false
    /// `chunked` is the final transfer coding.
    var isChunkedLast = false
    var connectionClose = false
    var connectionKeepAlive = false
    var expectsContinue = false
    var retryAfterFieldIndex: Int?

    init(_ block: HTTPHeadBlock) throws(HTTPParseError) {
        for fieldIndex in block.fields.indices {
            let name = block.name(at: fieldIndex)
            let value = block.value(at: fieldIndex)
            if HTTPBytes.equalsIgnoringCase(name, "content-length") {
                try noteContentLength(value, block: block, fieldIndex: fieldIndex)
            } else if HTTPBytes.equalsIgnoringCase(name, "transfer-encoding") {
                hasTransferEncoding = true
                HTTPBytes.forEachListElement(value) { coding in
                    isChunkedLast = HTTPBytes.equalsIgnoringCase(coding, "chunked")
                }
            } else if HTTPBytes.equalsIgnoringCase(name, "connection") {
                HTTPBytes.forEachListElement(value) { option in
                    if HTTPBytes.equalsIgnoringCase(option, "close") { connectionClose = true }
                    if HTTPBytes.equalsIgnoringCase(option, "keep-alive") { connectionKeepAlive = true }
                }
            } else if HTTPBytes.equalsIgnoringCase(name, "expect") {
                expectsContinue = HTTPBytes.equalsIgnoringCase(value, "100-continue")
            } else if HTTPBytes.equalsIgnoringCase(name, "retry-after") && retryAfterFieldIndex == nil {
                retryAfterFieldIndex = fieldIndex
            }
        }
    }

    /// `Content-Length` may repeat (as fields or as a list) only with one value (RFC 9110 §8.6).
    private mutating func noteContentLength(
        _ value: ArraySlice<UInt8>,
        block: HTTPHeadBlock,
        fieldIndex: Int
    ) throws(HTTPParseError) {
        var failureMessage: String?
        var length = contentLength
        var elementCount = 0
        HTTPBytes.forEachListElement(value) { element in
            elementCount += 1
            guard failureMessage == nil else { return }
            guard let parsedLength = HTTPBytes.parseDecimal(element) else {
                failureMessage = "Content-Length is not a decimal number below 10^19"
                return
            }
            if let length, length != parsedLength {
                failureMessage = "Content-Length values disagree (\(length) and \(parsedLength))"
                return
            }
            length = parsedLength
        }
        if elementCount == 0 { failureMessage = "empty Content-Length" }
        if let failureMessage {
            throw HTTPParseError(
                code: .invalidContentLength,
                streamByteOffset: block.firstByteStreamOffset + block.fields[fieldIndex].value.lowerBound,
                message: failureMessage
            )
        }
        contentLength = length
    }

    /// RFC 9112 §9.3: 1.1 persists unless `close`; 1.0 persists only with `keep-alive`.
    func persists(version: HTTPVersion) -> Bool {
        switch version {
        case .http11: return !connectionClose
        case .http10: return connectionKeepAlive && !connectionClose
        }
    }
}

extension HTTPBytes {
    /// A decimal number of 1 to 19 digits, or `nil`.
    static func parseDecimal(_ bytes: ArraySlice<UInt8>) -> UInt64? {
        guard !bytes.isEmpty, bytes.count <= 19 else { return nil }
        var value: UInt64 = 0
        for byte in bytes {
            guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + UInt64(byte - UInt8(ascii: "0"))
        }
        return value
    }
}
