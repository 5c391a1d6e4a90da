extension HTTPURL {
    /// What a redacted URL shows instead of a secret part.
    public static let redactionMarker = "REDACTED"

    /// `text` with every part that may carry a secret replaced by `REDACTED`, for printing and logging.
    ///
    /// The scheme, host and port stay; user information, the path, each query value and a fragment are
    /// replaced (query names stay, so the shape is visible):
    ///
    /// ```
    /// https://hooks.slack.com/services/T0/B0/XXXX      → https://hooks.slack.com/REDACTED
    /// http://user:pw@127.0.0.1:8080/hook?token=abc&x=1  → http://REDACTED@127.0.0.1:8080/REDACTED?token=REDACTED&x=REDACTED
    /// https://example.com/                             → https://example.com/
    /// ```
    ///
    /// Pure and total: text that is not a URL (no `scheme://`) is replaced whole, so an invalid URL
    /// in an error message cannot leak either.
    public static func redacted(_ text: String) -> String {
        let marker = redactionMarker
        let characters = Array(text)
        guard let schemeEnd = redactedSchemeEnd(characters) else { return text.isEmpty ? text : marker }
        var position = schemeEnd + 3  // after "://"
        var authorityEnd = position
        while authorityEnd < characters.count, !"/?#".contains(characters[authorityEnd]) { authorityEnd += 1 }
        var authority = String(characters[position..<authorityEnd])
        if let at = authority.lastIndex(of: "@") {
            authority = marker + String(authority[at...])
        }
        var result = String(characters[0..<position]) + authority
        position = authorityEnd
        var pathEnd = position
        while pathEnd < characters.count, characters[pathEnd] != "?", characters[pathEnd] != "#" { pathEnd += 1 }
        if pathEnd - position > 1 {
            result += "/" + marker
        } else {
            result += String(characters[position..<pathEnd])
        }
        position = pathEnd
        if position < characters.count, characters[position] == "?" {
            var queryEnd = position + 1
            while queryEnd < characters.count, characters[queryEnd] != "#" { queryEnd += 1 }
            let query = String(characters[(position + 1)..<queryEnd])
            var parameters: [String] = []
            for parameter in query.split(separator: "&", omittingEmptySubsequences: false) {
                if let equals = parameter.firstIndex(of: "=") {
                    parameters.append(String(parameter[...equals]) + marker)
                } else {
                    parameters.append(parameter.isEmpty ? "" : marker)
                }
            }
            result += "?" + parameters.joined(separator: "&")
            position = queryEnd
        }
        if position < characters.count {  // a fragment
            result += position + 1 < characters.count ? "#" + marker : "#"
        }
        return result
    }

    /// The index of `://` after a non-empty scheme (letters, digits, `+ - .`), or `nil`.
    private static func redactedSchemeEnd(_ characters: [Character]) -> Int? {
        var index = 0
        while index < characters.count {
            let character = characters[index]
            if character == ":" { break }
            guard character.isASCII, character.isLetter || character.isNumber || "+-.".contains(character) else {
                return nil
            }
            index += 1
        }
        guard index > 0, index + 2 < characters.count, characters[index + 1] == "/", characters[index + 2] == "/"
        else { return nil }
        return index
    }

    /// ``description`` with the path, query values and user information redacted (see ``redacted(_:)``).
    public var redactedDescription: String { Self.redacted(description) }
}
