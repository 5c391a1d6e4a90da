/// An HTTP request method (RFC 9110 §9), kept as its exact token text.
///
/// The common methods are constants, so parsing and encoding them never allocates.
public struct HTTPMethod: Hashable, Sendable, CustomStringConvertible {
    /// The method token exactly as sent on the wire (case-sensitive, RFC 9110 §9.1).
    public var rawValue: String

    /// - Precondition: `rawValue` is a non-empty token; ``HTTPRequestEncoder`` re-checks it.
    public init(_ rawValue: String) { self.rawValue = rawValue }

    public static let get = HTTPMethod("GET")
    public static let head = HTTPMethod("HEAD")
    public static let post = HTTPMethod("POST")
    public static let put = HTTPMethod("PUT")
    public static let patch = HTTPMethod("PATCH")
    public static let delete = HTTPMethod("DELETE")
    public static let options = HTTPMethod("OPTIONS")

    /// Whether requests with this method carry a body by convention, so `Content-Length: 0` is sent
    /// even for an empty body (RFC 9110 §8.6: a user agent SHOULD send it for POST, PUT and PATCH).
    public var conventionallyHasBody: Bool { self == .post || self == .put || self == .patch }

    public var description: String { rawValue }

    static let known: [HTTPMethod] = [.get, .head, .post, .put, .patch, .delete, .options]
}
