/// Encodes HTTP/1.1 response heads (the `sluice sink` server side).
///
/// ```
/// HTTP/1.1 429 Too Many Requests\r\n
/// <headerFields in order>\r\n
/// Content-Length: 0\r\n
/// [Connection: close\r\n]
/// \r\n
/// ```
/// `Content-Length` is always written except for 1xx, 204 and 304 (RFC 9110 §8.6), so every
/// response is delimited and the connection can be kept alive. Stateless; thread-safe.
public enum HTTPResponseEncoder {
    /// Appends a response head for a body of `bodyByteCount` bytes (the caller appends the body).
    /// - Throws: ``HTTPEncodingError`` for a status outside 100...999, a bad header name or value,
    ///   or a custom `Content-Length`/`Transfer-Encoding`/`Connection`; `target` is unchanged then.
    public static func appendHead(
        statusCode: Int,
        headerFields: [HTTPHeaderField] = [],
        bodyByteCount: Int,
        keepAlive: Bool,
        to target: inout [UInt8]
    ) throws(HTTPEncodingError) {
        precondition(bodyByteCount >= 0, "negative body byte count")
        guard (100...999).contains(statusCode) else {
            throw HTTPEncodingError(code: .invalidStatus, field: "status \(statusCode)")
        }
        for (position, field) in headerFields.enumerated() {
            try HTTPRequestEncoder.validateField(field, position: position)
        }
        target.append(contentsOf: "HTTP/1.1 ".utf8)
        HTTPBytes.appendDecimal(UInt64(statusCode), to: &target)
        target.append(HTTPBytes.space)
        target.append(contentsOf: reasonPhrase(statusCode).utf8)
        target.append(contentsOf: "\r\n".utf8)
        HTTPRequestEncoder.appendFields(headerFields, to: &target)
        let bodyless = statusCode < 200 || statusCode == 204 || statusCode == 304
        if !bodyless {
            target.append(contentsOf: "Content-Length: ".utf8)
            HTTPBytes.appendDecimal(UInt64(bodyByteCount), to: &target)
            target.append(contentsOf: "\r\n".utf8)
        }
        if !keepAlive { target.append(contentsOf: "Connection: close\r\n".utf8) }
        target.append(contentsOf: "\r\n".utf8)
    }

    /// The RFC 9110 reason phrase, or `Status` for codes it does not name.
    public static func reasonPhrase(_ statusCode: Int) -> String {
        switch statusCode {
        case 100: return "Continue"
        case 200: return "OK"
        case 201: return "Created"
        case 202: return "Accepted"
        case 204: return "No Content"
        case 301: return "Moved Permanently"
        case 302: return "Found"
        case 304: return "Not Modified"
        case 307: return "Temporary Redirect"
        case 308: return "Permanent Redirect"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 408: return "Request Timeout"
        case 410: return "Gone"
        case 413: return "Content Too Large"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        default: return "Status"
        }
    }
}
