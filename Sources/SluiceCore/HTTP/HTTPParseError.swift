/// Bytes received on a connection are not acceptable HTTP/1.1: what, and where in the stream.
///
/// After any parse error the connection's framing is lost: the driver closes the connection (a
/// server answers 400, 413, 431 or 501 first, see ``suggestedResponseStatus``).
public struct HTTPParseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A stable error code (a struct, so adding a code does not break exhaustive switches).
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case headTooLarge, tooManyHeaderFields, invalidLineEnding, invalidStartLine, unsupportedVersion
            case invalidStatus, invalidMethod, invalidTarget, invalidHeaderName, invalidHeaderValue
            case obsoleteLineFolding, invalidContentLength, conflictingFraming, unsupportedTransferEncoding
            case invalidChunkSize, chunkLineTooLong, invalidChunkTerminator, bodyTooLarge, trailersTooLarge
            case unexpectedUpgrade, truncated
        }
        private let base: Base
        /// The start line and header fields exceed ``HTTPParserLimits/headByteCountMax``.
        public static let headTooLarge = Code(base: .headTooLarge)
        /// More header fields than ``HTTPParserLimits/headerFieldCountMax``.
        public static let tooManyHeaderFields = Code(base: .tooManyHeaderFields)
        /// A CR not followed by LF.
        public static let invalidLineEnding = Code(base: .invalidLineEnding)
        /// The request line or status line does not have its three parts.
        public static let invalidStartLine = Code(base: .invalidStartLine)
        /// Not `HTTP/1.0` or `HTTP/1.1`.
        public static let unsupportedVersion = Code(base: .unsupportedVersion)
        /// The status code is not three digits 100...999.
        public static let invalidStatus = Code(base: .invalidStatus)
        /// The request method is not a token.
        public static let invalidMethod = Code(base: .invalidMethod)
        /// The request target is empty or holds control bytes.
        public static let invalidTarget = Code(base: .invalidTarget)
        /// A header name is empty, not a token, or followed by whitespace before the colon.
        public static let invalidHeaderName = Code(base: .invalidHeaderName)
        /// A header value holds a control byte.
        public static let invalidHeaderValue = Code(base: .invalidHeaderValue)
        /// A header line starts with whitespace (obs-fold, rejected as RFC 9112 §5.2 allows).
        public static let obsoleteLineFolding = Code(base: .obsoleteLineFolding)
        /// `Content-Length` is not a decimal number, or several disagree.
        public static let invalidContentLength = Code(base: .invalidContentLength)
        /// A request has both `Transfer-Encoding` and `Content-Length` (request smuggling guard).
        public static let conflictingFraming = Code(base: .conflictingFraming)
        /// A request's transfer coding is not `chunked` last (RFC 9112 §6.3 rule 4).
        public static let unsupportedTransferEncoding = Code(base: .unsupportedTransferEncoding)
        /// A chunk size is not hexadecimal or does not fit 64 bits.
        public static let invalidChunkSize = Code(base: .invalidChunkSize)
        /// A chunk-size line (with extensions) exceeds ``HTTPParserLimits/chunkLineByteCountMax``.
        public static let chunkLineTooLong = Code(base: .chunkLineTooLong)
        /// Chunk data is not followed by CRLF.
        public static let invalidChunkTerminator = Code(base: .invalidChunkTerminator)
        /// The body exceeds ``HTTPParserLimits/bodyByteCountMax``.
        public static let bodyTooLarge = Code(base: .bodyTooLarge)
        /// The chunked trailer section exceeds ``HTTPParserLimits/trailerByteCountMax``.
        public static let trailersTooLarge = Code(base: .trailersTooLarge)
        /// `101 Switching Protocols`: never requested by Sluice, so never accepted.
        public static let unexpectedUpgrade = Code(base: .unexpectedUpgrade)
        /// The connection ended inside a message.
        public static let truncated = Code(base: .truncated)
        public var description: String { String(describing: base) }
    }

    public var code: Code
    /// Position of the offending byte counted from the first byte the parser was fed since
    /// `init` or `reset()` (normally the connection's first received byte).
    public var streamByteOffset: Int
    /// What was wrong, for a human (the limit's name and value for limit errors).
    public var message: String

    public init(code: Code, streamByteOffset: Int, message: String) {
        self.code = code
        self.streamByteOffset = streamByteOffset
        self.message = message
    }

    public var description: String { "\(message) (\(code)) at stream byte offset \(streamByteOffset)" }

    /// The status a server sends before closing (RFC 9110/9112): 431 for oversized heads, 413 for
    /// oversized bodies, 501 for unknown transfer codings, else 400.
    public var suggestedResponseStatus: Int {
        if code == .headTooLarge || code == .tooManyHeaderFields { return 431 }
        if code == .bodyTooLarge { return 413 }
        if code == .unsupportedTransferEncoding { return 501 }
        return 400
    }
}

/// Bounds on what a parser accepts; each is checked while bytes arrive, never after buffering them.
///
/// Memory: a parser reserves `headByteCountMax + trailerByteCountMax` bytes plus 16 bytes per
/// header field once, at `init`.
public struct HTTPParserLimits: Hashable, Sendable {
    /// Start line plus header fields plus the empty line.
    public var headByteCountMax: Int = 16 << 10
    public var headerFieldCountMax: Int = 100
    /// Decoded body bytes (after removing chunk framing).
    public var bodyByteCountMax: UInt64 = 8 << 20
    /// One chunk-size line including extensions.
    public var chunkLineByteCountMax: Int = 1024
    /// The trailer section after the last chunk.
    public var trailerByteCountMax: Int = 8 << 10

    public init() {}

    public init(
        headByteCountMax: Int = 16 << 10,
        headerFieldCountMax: Int = 100,
        bodyByteCountMax: UInt64 = 8 << 20,
        chunkLineByteCountMax: Int = 1024,
        trailerByteCountMax: Int = 8 << 10
    ) {
        self.headByteCountMax = headByteCountMax
        self.headerFieldCountMax = headerFieldCountMax
        self.bodyByteCountMax = bodyByteCountMax
        self.chunkLineByteCountMax = chunkLineByteCountMax
        self.trailerByteCountMax = trailerByteCountMax
    }

    /// Checked once when a parser is made.
    public func validate() {
        precondition(headByteCountMax >= 32, "a head needs room for a start line")
        precondition(headerFieldCountMax >= 1)
        precondition(chunkLineByteCountMax >= 3, "a chunk line needs room for a size")
        precondition(trailerByteCountMax >= 2)
    }
}
