/// One resource of an event being built: ordered string labels, `prefect.resource.id` first.
public struct ResourceDraft: Sendable, Equatable {
    public struct Label: Sendable, Equatable {
        public var key: String
        public var value: String
        public init(_ key: String, _ value: String) {
            self.key = key
            self.value = value
        }
    }

    public var labels: [Label]

    /// A primary resource (no role).
    public init(id: String, _ labels: [(String, String)] = []) {
        self.labels = [Label("prefect.resource.id", id)] + labels.map { Label($0.0, $0.1) }
    }

    /// A related resource: `prefect.resource.id`, `prefect.resource.role`, then `labels`.
    public init(id: String, role: String, _ labels: [(String, String)] = []) {
        self.labels =
            [Label("prefect.resource.id", id), Label("prefect.resource.role", role)]
            + labels.map { Label($0.0, $0.1) }
    }

    public subscript(key: String) -> String? {
        get { labels.first { $0.key == key }?.value }
        set {
            if let position = labels.firstIndex(where: { $0.key == key }) {
                if let newValue { labels[position].value = newValue } else { labels.remove(at: position) }
            } else if let newValue {
                labels.append(Label(key, newValue))
            }
        }
    }
}

/// An event described by its parts, written as Prefect wire JSON by ``encoded()``.
///
/// Key order is Prefect's model order: `occurred, event, resource, related, payload, id, follows`;
/// separators are compact and strings use Python's `ensure_ascii=False` escaping, so the bytes are
/// what Prefect's `model_dump_json` gives for the same event. `payload` is
/// `{"data": …, "context": …}` with either part omitted when `nil` (both `nil` gives `{}`).
public struct EventDraft: Sendable, Equatable {
    public var name: String
    public var id: EventID
    public var occurred: Timestamp
    public var resource: ResourceDraft
    public var related: [ResourceDraft]
    /// `payload.data` as JSON bytes; written with insignificant whitespace removed, otherwise verbatim.
    public var payloadData: [UInt8]?
    /// `payload.context`.
    public var payloadContext: JSONValue?
    public var follows: EventID?

    public init(
        name: String,
        id: EventID,
        occurred: Timestamp,
        resource: ResourceDraft,
        related: [ResourceDraft] = [],
        payloadData: [UInt8]? = nil,
        payloadContext: JSONValue? = nil,
        follows: EventID? = nil
    ) {
        self.name = name
        self.id = id
        self.occurred = occurred
        self.resource = resource
        self.related = related
        self.payloadData = payloadData
        self.payloadContext = payloadContext
        self.follows = follows
    }

    /// The Prefect wire JSON, one line, no trailing newline.
    public func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(512 + (payloadData?.count ?? 0))
        bytes.append(contentsOf: #"{"occurred":""#.utf8)
        occurred.append(.prefect, to: &bytes)
        bytes.append(contentsOf: #"","event":"#.utf8)
        JSONString.appendQuoted(name, to: &bytes)
        bytes.append(contentsOf: #","resource":"#.utf8)
        Self.append(resource, to: &bytes)
        bytes.append(contentsOf: #","related":["#.utf8)
        for (position, resource) in related.enumerated() {
            if position > 0 { bytes.append(UInt8(ascii: ",")) }
            Self.append(resource, to: &bytes)
        }
        bytes.append(contentsOf: #"],"payload":{"#.utf8)
        if let payloadData {
            bytes.append(contentsOf: #""data":"#.utf8)
            unsafe payloadData.withUnsafeBytes { raw in unsafe JSONCompactor.append(raw, to: &bytes) }
        }
        if let payloadContext {
            if payloadData != nil { bytes.append(UInt8(ascii: ",")) }
            bytes.append(contentsOf: #""context":"#.utf8)
            payloadContext.write(to: &bytes)
        }
        bytes.append(contentsOf: #"},"id":""#.utf8)
        id.append(to: &bytes)
        bytes.append(contentsOf: #"","follows":"#.utf8)
        if let follows {
            bytes.append(UInt8(ascii: "\""))
            follows.append(to: &bytes)
            bytes.append(UInt8(ascii: "\""))
        } else {
            bytes.append(contentsOf: "null".utf8)
        }
        bytes.append(UInt8(ascii: "}"))
        return bytes
    }

    /// Encodes and decodes the draft, so the result is exactly what a producer sending these bytes gets.
    public func build(with decoder: inout EventDecoder) throws(EventDecodingError) -> Event {
        try decoder.decode(encoded())
    }

    private static func append(_ resource: ResourceDraft, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "{"))
        for (position, label) in resource.labels.enumerated() {
            if position > 0 { bytes.append(UInt8(ascii: ",")) }
            JSONString.appendQuoted(label.key, to: &bytes)
            bytes.append(UInt8(ascii: ":"))
            JSONString.appendQuoted(label.value, to: &bytes)
        }
        bytes.append(UInt8(ascii: "}"))
    }
}
