/// Where one header field sits inside ``HTTPHeadBlock/storage``.
struct HTTPFieldRange: Hashable, Sendable {
    var name: Range<Int>
    /// Without leading and trailing whitespace.
    var value: Range<Int>
}

/// A header section being received: a start line (heads) or none (chunked trailers), then header
/// lines, then an empty line. Accepts CRLF and bare LF line endings (RFC 9112 §2.2); a CR not
/// followed by LF is an error.
///
/// Bytes are copied into ``storage`` (capacity reserved once) until the empty line arrives, then
/// the lines are indexed into ``fields``. Not thread-safe; part of one parser.
struct HTTPHeadBlock: Sendable {
    private(set) var storage: [UInt8] = []
    private(set) var fields: [HTTPFieldRange] = []
    /// The start line without its line ending (empty for trailers).
    private(set) var startLine: Range<Int> = 0..<0
    private(set) var isComplete = false
    /// Stream position of `storage[0]`.
    private(set) var firstByteStreamOffset = 0
    let hasStartLine: Bool
    let byteCountMax: Int
    let fieldCountMax: Int
    private let tooLargeCode: HTTPParseError.Code
    private var lineByteCount = 0
    private var lineCount = 0
    private var pendingCR = false

    init(hasStartLine: Bool, byteCountMax: Int, fieldCountMax: Int) {
        self.hasStartLine = hasStartLine
        self.byteCountMax = byteCountMax
        self.fieldCountMax = fieldCountMax
        self.tooLargeCode = hasStartLine ? .headTooLarge : .trailersTooLarge
        storage.reserveCapacity(byteCountMax)
        fields.reserveCapacity(min(fieldCountMax, 128))
    }

    /// Nothing of this section has been received yet (a connection may close here cleanly).
    var isEmpty: Bool { storage.isEmpty && lineByteCount == 0 && !pendingCR }

    mutating func reset() {
        storage.removeAll(keepingCapacity: true)
        fields.removeAll(keepingCapacity: true)
        startLine = 0..<0
        isComplete = false
        lineByteCount = 0
        lineCount = 0
        pendingCR = false
    }

    /// Takes bytes up to and including the terminating empty line.
    /// - Returns: how many of `bytes` were consumed; ``isComplete`` tells whether the section ended.
    /// - Throws: ``HTTPParseError`` for a bare CR, a section over its limit, or a malformed field.
    mutating func accumulate(_ bytes: Span<UInt8>, streamByteOffset: Int) throws(HTTPParseError) -> Int {
        precondition(!isComplete, "accumulate on a complete header section")
        var copyStart = 0
        var index = 0
        while index < bytes.count {
            // The limit first, byte by byte: an error must not depend on how the stream was cut (a bare
            // CR past the limit is `headTooLarge` at the limit whether it came in the same read or later).
            if storage.count + (index - copyStart) >= byteCountMax {
                throw tooLarge(streamByteOffset: streamByteOffset + index)
            }
            let byte = bytes[index]
            if pendingCR {
                pendingCR = false
                guard byte == HTTPBytes.lf else {
                    throw HTTPParseError(
                        code: .invalidLineEnding,
                        streamByteOffset: streamByteOffset + index,
                        message: "CR not followed by LF"
                    )
                }
            } else if byte == HTTPBytes.cr {
                pendingCR = true
                index += 1
                continue
            } else if byte != HTTPBytes.lf {
                lineByteCount += 1
                index += 1
                continue
            }
            // `index` is at the LF ending a line.
            if lineByteCount == 0 && lineCount == 0 && hasStartLine {
                // Empty lines before a start line are ignored (RFC 9112 §2.2).
                storage.removeAll(keepingCapacity: true)
                copyStart = index + 1
            } else if lineByteCount == 0 {
                try store(bytes, copyStart..<(index + 1), streamByteOffset: streamByteOffset)
                isComplete = true
                try indexFields()
                return index + 1
            } else {
                lineCount += 1
            }
            lineByteCount = 0
            index += 1
        }
        try store(bytes, copyStart..<bytes.count, streamByteOffset: streamByteOffset)
        return bytes.count
    }

    private mutating func store(
        _ bytes: Span<UInt8>,
        _ range: Range<Int>,
        streamByteOffset: Int
    ) throws(HTTPParseError) {
        if storage.isEmpty { firstByteStreamOffset = streamByteOffset + range.lowerBound }
        guard storage.count + range.count <= byteCountMax else {
            throw tooLarge(streamByteOffset: streamByteOffset + range.lowerBound + (byteCountMax - storage.count))
        }
        // One bulk copy per received piece instead of a per-byte append.
        unsafe bytes.withUnsafeBufferPointer { buffer in unsafe storage.append(contentsOf: buffer[range]) }
    }

    /// The section is over its limit; `streamByteOffset` is the first byte past it.
    private func tooLarge(streamByteOffset: Int) -> HTTPParseError {
        let limitName = hasStartLine ? "headByteCountMax" : "trailerByteCountMax"
        return HTTPParseError(
            code: tooLargeCode,
            streamByteOffset: streamByteOffset,
            message: "header section longer than \(byteCountMax) bytes (\(limitName))"
        )
    }

    /// Splits ``storage`` into the start line and field ranges, validating each field.
    private mutating func indexFields() throws(HTTPParseError) {
        var lineStart = 0
        var isFirstLine = true
        while lineStart < storage.count {
            var lineEnd = lineStart
            while storage[lineEnd] != HTTPBytes.lf { lineEnd += 1 }
            let nextLineStart = lineEnd + 1
            if lineEnd > lineStart && storage[lineEnd - 1] == HTTPBytes.cr { lineEnd -= 1 }
            if lineEnd == lineStart { break }  // the empty line that ends the section
            if isFirstLine && hasStartLine {
                startLine = lineStart..<lineEnd
            } else {
                try indexField(lineStart..<lineEnd)
            }
            isFirstLine = false
            lineStart = nextLineStart
        }
    }

    private mutating func indexField(_ line: Range<Int>) throws(HTTPParseError) {
        func failure(_ code: HTTPParseError.Code, _ index: Int, _ message: String) -> HTTPParseError {
            HTTPParseError(code: code, streamByteOffset: firstByteStreamOffset + index, message: message)
        }
        guard !HTTPBytes.isWhitespace(storage[line.lowerBound]) else {
            throw failure(.obsoleteLineFolding, line.lowerBound, "header line starts with whitespace (obs-fold)")
        }
        var cursor = line.lowerBound
        while cursor < line.upperBound && HTTPBytes.isToken(storage[cursor]) { cursor += 1 }
        guard cursor < line.upperBound, storage[cursor] == HTTPBytes.colon, cursor > line.lowerBound else {
            throw failure(.invalidHeaderName, cursor, "header name is not a token followed by ':'")
        }
        let name = line.lowerBound..<cursor
        var valueStart = cursor + 1
        var valueEnd = line.upperBound
        while valueStart < valueEnd && HTTPBytes.isWhitespace(storage[valueStart]) { valueStart += 1 }
        while valueEnd > valueStart && HTTPBytes.isWhitespace(storage[valueEnd - 1]) { valueEnd -= 1 }
        for index in valueStart..<valueEnd where !HTTPBytes.isFieldValueByte(storage[index]) {
            throw failure(.invalidHeaderValue, index, "control byte \(storage[index]) in a header value")
        }
        guard fields.count < fieldCountMax else {
            throw failure(
                .tooManyHeaderFields,
                line.lowerBound,
                "more than \(fieldCountMax) fields (headerFieldCountMax)"
            )
        }
        fields.append(HTTPFieldRange(name: name, value: valueStart..<valueEnd))
    }

    // MARK: Lookups

    func name(at fieldIndex: Int) -> ArraySlice<UInt8> { storage[fields[fieldIndex].name] }
    func value(at fieldIndex: Int) -> ArraySlice<UInt8> { storage[fields[fieldIndex].value] }

    /// The first value of a field named `name` (compared ignoring ASCII case).
    func firstValue(named name: String) -> ArraySlice<UInt8>? {
        let lowercaseName = name.lowercased()
        for field in fields where HTTPBytes.equalsIgnoringCase(storage[field.name], lowercaseName) {
            return storage[field.value]
        }
        return nil
    }

    /// Every value of fields named `name`, in order.
    func values(named name: String) -> [ArraySlice<UInt8>] {
        let lowercaseName = name.lowercased()
        return fields.filter { HTTPBytes.equalsIgnoringCase(storage[$0.name], lowercaseName) }.map { storage[$0.value] }
    }
}

extension HTTPBytes {
    /// Calls `body` with each element of a comma-separated list value (RFC 9110 §5.6.1), trimmed of
    /// whitespace; empty elements are skipped.
    static func forEachListElement(_ value: ArraySlice<UInt8>, _ body: (ArraySlice<UInt8>) -> Void) {
        var start = value.startIndex
        while start < value.endIndex {
            var end = start
            while end < value.endIndex && value[end] != comma { end += 1 }
            var elementStart = start
            var elementEnd = end
            while elementStart < elementEnd && isWhitespace(value[elementStart]) { elementStart += 1 }
            while elementEnd > elementStart && isWhitespace(value[elementEnd - 1]) { elementEnd -= 1 }
            if elementStart < elementEnd { body(value[elementStart..<elementEnd]) }
            start = end + 1
        }
    }
}
