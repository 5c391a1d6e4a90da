extension Glob {
    /// ``matches(_:)`` over UTF-8 bytes, decoding one Unicode scalar at a time, so a label value in the
    /// event bytes is matched without building a `String` (the compiled index's glob residuals).
    ///
    /// Same iterative single-star backtracking as the scalar version. Malformed UTF-8 (the decoder only
    /// accepts valid JSON strings, so this is defensive) reads as U+FFFD, one byte at a time.
    /// - Complexity: O(pattern × text) in the worst case.
    func matches(utf8 text: UnsafeRawBufferPointer) -> Bool {
        var tokenIndex = 0
        var position = 0
        var starToken = -1
        var starPosition = 0
        while position < text.count {
            let (scalar, length) = unsafe Self.scalar(in: text, at: position)
            if tokenIndex < tokens.count, Self.token(tokens[tokenIndex], matches: scalar) {
                tokenIndex += 1
                position += length
            } else if tokenIndex < tokens.count, tokens[tokenIndex] == .anyRun {
                starToken = tokenIndex
                starPosition = position
                tokenIndex += 1
            } else if starToken >= 0 {
                tokenIndex = starToken + 1
                starPosition += unsafe Self.scalar(in: text, at: starPosition).length
                position = starPosition
            } else {
                return false
            }
        }
        while tokenIndex < tokens.count && tokens[tokenIndex] == .anyRun { tokenIndex += 1 }
        return tokenIndex == tokens.count
    }

    private static func token(_ token: Token, matches scalar: Unicode.Scalar) -> Bool {
        switch token {
        case .literal(let literal): return literal == scalar
        case .any: return true
        case .anyRun: return false
        case .set(let ranges, let negated): return ranges.contains { $0.contains(scalar.value) } != negated
        }
    }

    /// The scalar starting at `position` and its UTF-8 length (1–4).
    private static func scalar(in text: UnsafeRawBufferPointer, at position: Int) -> (Unicode.Scalar, length: Int) {
        let lead = unsafe text[position]
        if lead < 0x80 { return (Unicode.Scalar(lead), 1) }
        let length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 0
        guard length > 0, position + length <= text.count else { return ("\u{FFFD}", 1) }
        var value = UInt32(lead) & (0xFF >> (length + 1))
        for offset in 1..<length {
            let byte = unsafe text[position + offset]
            guard byte & 0xC0 == 0x80 else { return ("\u{FFFD}", 1) }
            value = value << 6 | UInt32(byte & 0x3F)
        }
        guard let scalar = Unicode.Scalar(value) else { return ("\u{FFFD}", 1) }
        return (scalar, length)
    }
}
