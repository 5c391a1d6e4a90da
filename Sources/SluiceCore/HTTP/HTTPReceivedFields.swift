/// The header (or trailer) fields of a received message, in received order.
///
/// A read-only view of the parser's storage. It stays valid while held; holding it across the
/// next message makes the parser copy its storage once (copy-on-write), so drivers read what
/// they need and let the view go. Not thread-safe to share with the parser's thread while the
/// parser runs; a copy is `Sendable`.
public struct HTTPReceivedFields: Sendable {
    private let block: HTTPHeadBlock?

    init(_ block: HTTPHeadBlock) { self.block = block.isComplete ? block : nil }

    /// No fields (before the first head, or a body without trailers).
    public static let empty = HTTPReceivedFields(nil)
    private init(_ block: HTTPHeadBlock?) { self.block = block }

    public var count: Int { block?.fields.count ?? 0 }

    /// - Precondition: `0 <= fieldIndex < count`.
    public func name(at fieldIndex: Int) -> String {
        String(decoding: checkedBlock(fieldIndex).name(at: fieldIndex), as: UTF8.self)
    }

    /// The value without surrounding whitespace. - Precondition: `0 <= fieldIndex < count`.
    public func value(at fieldIndex: Int) -> String {
        String(decoding: checkedBlock(fieldIndex).value(at: fieldIndex), as: UTF8.self)
    }

    /// The first value of the field `name`, compared ignoring ASCII case.
    public func value(named name: String) -> String? {
        valueBytes(named: name).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The same as received bytes (no `String` is built).
    public func valueBytes(named name: String) -> ArraySlice<UInt8>? { block?.firstValue(named: name) }

    /// Every value of fields named `name`, in received order.
    public func values(named name: String) -> [String] {
        (block?.values(named: name) ?? []).map { String(decoding: $0, as: UTF8.self) }
    }

    private func checkedBlock(_ fieldIndex: Int) -> HTTPHeadBlock {
        guard let block else { preconditionFailure("field index \(fieldIndex) of an empty field list") }
        precondition(fieldIndex >= 0, "negative field index")
        precondition(fieldIndex < block.fields.count, "field index \(fieldIndex) beyond \(block.fields.count)")
        return block
    }
}
