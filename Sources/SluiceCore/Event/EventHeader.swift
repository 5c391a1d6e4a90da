/// One label of a resource: an interned key and the location of its string value in the event bytes.
public struct LabelRecord: Sendable, Equatable {
    public var key: Symbol
    /// Byte position of the value's content (between the quotes, still escaped) in ``Event/bytes``.
    public var valueStart: UInt32
    public var valueByteCount: UInt32
    /// `true` when the value contains a backslash escape (decode before comparing).
    public var valueHasEscapes: Bool

    public var valueRange: Range<Int> { Int(valueStart)..<(Int(valueStart) + Int(valueByteCount)) }
}

/// One resource of an event: the primary resource (index 0, role ``Symbol/none``) or a related one.
public struct ResourceRecord: Sendable, Equatable {
    /// `prefect.resource.role`, interned; `.none` for the primary resource.
    public var role: Symbol
    /// Position of the first label in ``EventHeader/labels``.
    public var labelStart: UInt32
    public var labelCount: UInt32
    /// Position of the `prefect.resource.id` label in ``EventHeader/labels``.
    public var idLabelIndex: UInt32

    public var labelRange: Range<Int> { Int(labelStart)..<(Int(labelStart) + Int(labelCount)) }
}

/// A string value inside the event bytes (content between the quotes, still escaped).
public struct StringReference: Sendable, Equatable {
    public var range: Range<Int>
    public var hasEscapes: Bool
}

/// What Sluice knows about an event without looking at its bytes again.
///
/// Filled once by ``EventDecoder``. Names, kinds, branches, roles, label keys and accounts are
/// interned ``Symbol``s; label values and the payload are byte ranges into ``Event/bytes``.
///
/// Derived fields follow Infrahub's readers (spec §a.3, §a.6, `task_manager/event/query.py`):
/// - ``nodeKind``: primary resource label `infrahub.node.kind`.
/// - ``branch``: related `infrahub.branch` → `infrahub.resource.label`, else `payload.context.branch.name`,
///   else the primary `infrahub.branch.name`.
/// - ``account``: related `infrahub.account` → `infrahub.resource.id`, else `payload.context.account_id`.
/// - ``level`` / ``hasChildren``: related `infrahub.event` → `infrahub.event.level` / `.has_children`.
/// - ``parent``: related `infrahub.child_event` → `infrahub.event_parent.id`.
/// - ancestors: the related resources with role `infrahub.ancestor_event`, nearest first.
public struct EventHeader: Sendable, Equatable {
    /// Position in the log; 0 until the event is appended.
    public var sequence: UInt64 = 0
    /// The event name (`event`).
    public var name: Symbol = .none
    /// Where the event name's text is in the bytes (for writing it back without the symbol table).
    public var nameReference = StringReference(range: 0..<0, hasEscapes: false)
    /// `id`.
    public var id = EventID(high: 0, low: 0)
    /// `occurred`, in UTC.
    public var occurred = Timestamp(microsecondsSinceEpoch: 0)
    /// The UTC offset `occurred` was written with, in minutes east of UTC (`Z` is 0; within ±1439), kept so
    /// the webhook body's `occured_at` shows the event's own offset as Infrahub's `str(datetime)` does.
    public var occurredUTCOffsetMinutes: Int16 = 0
    public var nodeKind: Symbol = .none
    public var branch: Symbol = .none
    public var account: Symbol = .none
    public var parent: EventID? = nil
    public var level: Int32 = 0
    public var hasChildren: Bool = false
    /// `follows`, when present and not null.
    public var follows: EventID? = nil
    /// Index 0 is the primary resource; the rest are `related`, in order.
    public var resources: [ResourceRecord] = []
    /// Every label of every resource, grouped by resource.
    public var labels: [LabelRecord] = []
    /// The whole `payload` value; `nil` when the event has no payload (Prefect's default `{}`).
    public var payloadRange: Range<Int>? = nil
    /// `payload.data`; `nil` when absent.
    public var payloadDataRange: Range<Int>? = nil
    /// `payload.context.branch.name` when it is a string.
    public var contextBranchName: StringReference? = nil
    /// `payload.context.account_id` when it is a string.
    public var contextAccountID: StringReference? = nil
    /// `true` when `payload.context` is present (and not JSON `null`).
    public var hasContext: Bool = false

    public init() {}

    /// Clears every field, keeping array capacity (the decoder reuses headers).
    public mutating func reset() {
        sequence = 0
        name = .none
        nameReference = StringReference(range: 0..<0, hasEscapes: false)
        id = EventID(high: 0, low: 0)
        occurred = Timestamp(microsecondsSinceEpoch: 0)
        occurredUTCOffsetMinutes = 0
        nodeKind = .none
        branch = .none
        account = .none
        parent = nil
        level = 0
        hasChildren = false
        follows = nil
        resources.removeAll(keepingCapacity: true)
        labels.removeAll(keepingCapacity: true)
        payloadRange = nil
        payloadDataRange = nil
        contextBranchName = nil
        contextAccountID = nil
        hasContext = false
    }

    /// The primary resource.
    public var primary: ResourceRecord { resources[0] }

    /// The related resources, in order.
    public var related: ArraySlice<ResourceRecord> { resources.dropFirst() }

    /// The label `key` of `resource`, if present.
    public func label(_ key: Symbol, of resource: ResourceRecord) -> LabelRecord? {
        for position in resource.labelRange where labels[position].key == key { return labels[position] }
        return nil
    }

    /// The first related resource with `role`.
    public func firstRelated(role: Symbol) -> ResourceRecord? {
        related.first { $0.role == role }
    }
}

/// An event: its JSON bytes (Prefect wire shape) and its decoded header.
public struct Event: Sendable, Equatable {
    public var header: EventHeader
    public var bytes: [UInt8]

    public init(header: EventHeader, bytes: [UInt8]) {
        self.header = header
        self.bytes = bytes
    }

    /// The unescaped UTF-8 of a string in the event bytes.
    public func string(_ reference: StringReference) -> String {
        string(range: reference.range, hasEscapes: reference.hasEscapes)
    }

    /// The unescaped text of a label value.
    public func value(_ label: LabelRecord) -> String {
        string(range: label.valueRange, hasEscapes: label.valueHasEscapes)
    }

    /// The value of label `key` of resource `resource`, unescaped.
    public func labelValue(_ key: Symbol, of resource: ResourceRecord) -> String? {
        header.label(key, of: resource).map(value)
    }

    /// The raw bytes of `range`.
    public func slice(_ range: Range<Int>) -> ArraySlice<UInt8> { bytes[range] }

    private func string(range: Range<Int>, hasEscapes: Bool) -> String {
        if !hasEscapes { return String(decoding: bytes[range], as: UTF8.self) }
        var unescaped: [UInt8] = []
        unsafe bytes.withUnsafeBytes { raw in
            unsafe JSONString.appendUnescaped(UnsafeRawBufferPointer(rebasing: raw[range]), to: &unescaped)
        }
        return String(decoding: unescaped, as: UTF8.self)
    }

    /// Ancestor events (id and name), nearest first: the `infrahub.ancestor_event` related resources.
    public func ancestors() -> [(id: String, name: String)] {
        header.related.filter { $0.role == .roleAncestorEvent }.map { resource in
            (
                value(header.labels[Int(resource.idLabelIndex)]),
                labelValue(.infrahubAncestorEventName, of: resource) ?? ""
            )
        }
    }
}
