/// Decodes events in the Prefect wire shape (spec §a.3) from JSON bytes into an ``EventHeader``.
///
/// A strict, single pass over the bytes (``JSONScanner``): the whole event is validated as JSON, the
/// top-level fields are checked for type and presence, resources for their required labels, and every
/// ``EventLimits`` bound is enforced. No Foundation, no tree; with a reused header the only allocations
/// are new symbols.
///
/// Accepted top-level fields: `occurred` (required, RFC 3339), `event` (required, non-empty string),
/// `resource` (required, object of string labels with a non-empty `prefect.resource.id`), `related`
/// (array of resources each with non-empty `prefect.resource.id` and `prefect.resource.role`; default
/// empty), `payload` (object; default `{}`), `id` (required, UUID), `follows` (UUID or null), `received`
/// (RFC 3339, as Prefect's server adds it). Other top-level keys are validated as JSON and ignored, as
/// Prefect's models ignore them.
///
/// Not thread-safe: owns a ``SymbolTable`` and a scratch buffer; use one decoder per thread.
public struct EventDecoder {
    public let limits: EventLimits
    public let symbols: SymbolTable
    private var scratch: [UInt8] = []

    public init(limits: EventLimits = EventLimits(), symbols: SymbolTable = SymbolTable()) {
        limits.validate()
        self.limits = limits
        self.symbols = symbols
        scratch.reserveCapacity(256)
    }

    /// Decodes one event and keeps its bytes.
    public mutating func decode(_ bytes: [UInt8]) throws(EventDecodingError) -> Event {
        var header = EventHeader()
        try decodeHeader(bytes, into: &header)
        return Event(header: header, bytes: bytes)
    }

    /// Decodes the header of the event in `bytes`, reusing `header`'s storage.
    public mutating func decodeHeader(_ bytes: [UInt8], into header: inout EventHeader) throws(EventDecodingError) {
        let result: Result<Void, EventDecodingError> = unsafe bytes.withUnsafeBytes { raw in
            do throws(EventDecodingError) {
                try unsafe decodeHeader(raw, into: &header)
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
    }

    /// Decodes the header of the event in `raw`. Label and payload ranges are relative to `raw`.
    @unsafe
    public mutating func decodeHeader(
        _ raw: UnsafeRawBufferPointer,
        into header: inout EventHeader
    )
        throws(EventDecodingError)
    {
        header.reset()
        guard raw.count <= limits.eventByteCountMax else {
            throw EventDecodingError(
                code: .limitExceeded,
                byteOffset: 0,
                fieldPath: "",
                message: "event is \(raw.count) bytes, more than the limit of \(limits.eventByteCountMax)"
            )
        }
        var scanner = unsafe JSONScanner(bytes: raw, depthMax: limits.nestingDepthMax)
        var seen = TopLevelFields()
        do {
            try scanner.expect(UInt8(ascii: "{"), "'{' to start an event object")
        } catch {
            throw Self.wrap(error, "")
        }
        try scanner.enterContainerOrFail("")
        try scanner.forEachMember("", separator: "',' or '}' in the event object") {
            (scanner: inout JSONScanner, key: JSONStringToken, keyOffset: Int) throws(EventDecodingError) in
            try decodeTopLevelMember(&scanner, key, keyOffset, &header, &seen)
        }
        do {
            try scanner.expectEnd()
        } catch {
            throw Self.wrap(error, "")
        }
        try seen.checkRequired(eventEnd: raw.count)
        try deriveFields(&scanner, &header)
    }

    // MARK: - Top level

    /// Which top-level fields were seen, one bit per ``TopLevelKey``.
    private struct TopLevelFields {
        var seen: UInt16 = 0

        mutating func mark(_ key: TopLevelKey, _ offset: Int) throws(EventDecodingError) {
            let bit = UInt16(1) << key.rawValue
            guard seen & bit == 0 else {
                throw EventDecodingError(
                    code: .duplicateField,
                    byteOffset: offset,
                    fieldPath: "\(key)",
                    message: "field appears twice"
                )
            }
            seen |= bit
        }

        func has(_ key: TopLevelKey) -> Bool { seen & (UInt16(1) << key.rawValue) != 0 }

        func checkRequired(eventEnd: Int) throws(EventDecodingError) {
            for (present, name) in [
                (has(.event), "event"), (has(.resource), "resource"),
                (has(.occurred), "occurred"), (has(.id), "id"),
            ]
            where !present {
                throw EventDecodingError(
                    code: .missingField,
                    byteOffset: max(eventEnd - 1, 0),
                    fieldPath: name,
                    message: "required field is missing"
                )
            }
        }
    }

    private mutating func decodeTopLevelMember(
        _ scanner: inout JSONScanner,
        _ key: JSONStringToken,
        _ keyOffset: Int,
        _ header: inout EventHeader,
        _ seen: inout TopLevelFields
    ) throws(EventDecodingError) {
        scanner.skipWhitespace()
        let valueOffset = scanner.index
        switch topLevelKey(scanner, key) {
        case .event:
            try seen.mark(.event, keyOffset)
            let token = try scanStringField(&scanner, "event")
            guard !token.range.isEmpty else {
                throw EventDecodingError(
                    code: .invalidField,
                    byteOffset: valueOffset,
                    fieldPath: "event",
                    message: "event name is empty"
                )
            }
            guard token.range.count <= limits.eventNameByteCountMax else {
                throw EventDecodingError(
                    code: .limitExceeded,
                    byteOffset: valueOffset,
                    fieldPath: "event",
                    message:
                        "event name is \(token.range.count) bytes, more than the limit of \(limits.eventNameByteCountMax)"
                )
            }
            header.name = try intern(scanner, token, valueOffset, "event")
            header.nameReference = StringReference(range: token.range, hasEscapes: token.hasEscapes)
        case .occurred:
            try seen.mark(.occurred, keyOffset)
            (header.occurred, header.occurredUTCOffsetMinutes) = try scanTimestamp(&scanner, "occurred")
        case .received:
            try seen.mark(.received, keyOffset)
            _ = try scanTimestamp(&scanner, "received")
        case .id:
            try seen.mark(.id, keyOffset)
            header.id = try scanEventID(&scanner, "id")
        case .follows:
            try seen.mark(.follows, keyOffset)
            if scanner.peek() == UInt8(ascii: "n") {
                try scanLiteralField(&scanner, "follows")
            } else {
                header.follows = try scanEventID(&scanner, "follows")
            }
        case .resource:
            try seen.mark(.resource, keyOffset)
            // The primary resource must be at index 0 even when `related` came first.
            try decodeResource(&scanner, &header, path: "resource", relatedIndex: nil)
        case .related:
            try seen.mark(.related, keyOffset)
            try decodeRelated(&scanner, &header)
        case .payload:
            try seen.mark(.payload, keyOffset)
            try decodePayload(&scanner, &header)
        case .other:
            do {
                try scanner.skipValue()
            } catch {
                throw Self.wrap(error, scanner.string(key))  // the key is read only on failure
            }
        }
    }

    private enum TopLevelKey: UInt16 { case event, occurred, resource, related, payload, id, follows, received, other }

    private func topLevelKey(_ scanner: JSONScanner, _ key: JSONStringToken) -> TopLevelKey {
        if key.hasEscapes { return .other }  // Known keys are plain ASCII; an escaped key is an unknown one.
        let range = key.range
        switch range.count {
        case 2: return scanner.bytes(in: range, equal: "id") ? .id : .other
        case 5: return scanner.bytes(in: range, equal: "event") ? .event : .other
        case 7:
            if scanner.bytes(in: range, equal: "related") { return .related }
            if scanner.bytes(in: range, equal: "payload") { return .payload }
            if scanner.bytes(in: range, equal: "follows") { return .follows }
            return .other
        case 8:
            if scanner.bytes(in: range, equal: "occurred") { return .occurred }
            if scanner.bytes(in: range, equal: "resource") { return .resource }
            if scanner.bytes(in: range, equal: "received") { return .received }
            return .other
        default: return .other
        }
    }

    // MARK: - Resources

    private mutating func decodeRelated(
        _ scanner: inout JSONScanner,
        _ header: inout EventHeader
    )
        throws(EventDecodingError)
    {
        guard scanner.peek() == UInt8(ascii: "[") else {
            if scanner.peek() == UInt8(ascii: "n") {  // Prefect accepts no null here; say so clearly.
                throw EventDecodingError(
                    code: .invalidField,
                    byteOffset: scanner.index,
                    fieldPath: "related",
                    message: "must be an array of resources, found null"
                )
            }
            throw typeError(scanner, "related", "an array of resources")
        }
        try scanner.enterContainerOrFail("related")
        scanner.index += 1
        var relatedIndex = 0
        if !scanner.consume(UInt8(ascii: "]")) {
            repeat {
                guard relatedIndex < limits.relatedResourceCountMax else {
                    throw EventDecodingError(
                        code: .limitExceeded,
                        byteOffset: scanner.index,
                        fieldPath: "related",
                        message: "more than \(limits.relatedResourceCountMax) related resources"
                    )
                }
                if header.resources.isEmpty {
                    // Reserve index 0 for the primary resource, which may come later in the object.
                    header.resources.append(
                        ResourceRecord(role: .none, labelStart: 0, labelCount: 0, idLabelIndex: .max)
                    )
                }
                try decodeResource(&scanner, &header, path: "related[\(relatedIndex)]", relatedIndex: relatedIndex)
                relatedIndex += 1
            } while try scanner.continueOrFail(close: UInt8(ascii: "]"), "',' or ']' in related", "related")
        }
        scanner.depth -= 1
    }

    /// Decodes one resource object. `relatedIndex == nil` means the primary resource.
    private mutating func decodeResource(
        _ scanner: inout JSONScanner,
        _ header: inout EventHeader,
        path: @autoclosure () -> String,
        relatedIndex: Int?
    ) throws(EventDecodingError) {
        let objectOffset = scanner.index
        guard scanner.peek() == UInt8(ascii: "{") else {
            throw typeError(scanner, path(), "an object of string labels")
        }
        try scanner.enterContainerOrFail(path())
        scanner.index += 1
        let labelStart = header.labels.count
        var idLabelIndex: Int? = nil
        var role: Symbol = .none
        try scanner.forEachMember(path(), colon: "':' after a label key", separator: "',' or '}' in a resource") {
            (scanner: inout JSONScanner, keyToken: JSONStringToken, keyOffset: Int) throws(EventDecodingError) in
            let valueToken: JSONStringToken
            let key = try intern(scanner, keyToken, keyOffset, path())
            guard header.labels.count - labelStart < limits.labelsPerResourceCountMax else {
                throw EventDecodingError(
                    code: .limitExceeded,
                    byteOffset: keyOffset,
                    fieldPath: path(),
                    message: "more than \(limits.labelsPerResourceCountMax) labels"
                )
            }
            for position in labelStart..<header.labels.count where header.labels[position].key == key {
                throw EventDecodingError(
                    code: .duplicateField,
                    byteOffset: keyOffset,
                    fieldPath: "\(path())[\"\(symbols.string(key))\"]",
                    message: "label appears twice"
                )
            }
            scanner.skipWhitespace()
            let valueOffset = scanner.index
            guard scanner.peek() == UInt8(ascii: "\"") else {
                throw typeError(
                    scanner,
                    "\(path())[\"\(symbols.string(key))\"]",
                    "a string (label values are strings)"
                )
            }
            do throws(JSONError) {
                valueToken = try scanner.scanString()
            } catch {
                throw Self.wrap(error, "\(path())[\"\(symbols.string(key))\"]")
            }
            if key == .prefectResourceID {
                guard !valueToken.range.isEmpty else {
                    throw EventDecodingError(
                        code: .invalidField,
                        byteOffset: valueOffset,
                        fieldPath: "\(path())[\"prefect.resource.id\"]",
                        message: "must not be empty"
                    )
                }
                idLabelIndex = header.labels.count
            } else if key == .prefectResourceRole {
                guard !valueToken.range.isEmpty else {
                    throw EventDecodingError(
                        code: .invalidField,
                        byteOffset: valueOffset,
                        fieldPath: "\(path())[\"prefect.resource.role\"]",
                        message: "must not be empty"
                    )
                }
                role = try intern(scanner, valueToken, valueOffset, path())
            }
            header.labels.append(
                LabelRecord(
                    key: key,
                    valueStart: UInt32(valueToken.range.lowerBound),
                    valueByteCount: UInt32(valueToken.range.count),
                    valueHasEscapes: valueToken.hasEscapes
                )
            )
        }
        guard let idLabelIndex else {
            throw EventDecodingError(
                code: .missingField,
                byteOffset: objectOffset,
                fieldPath: "\(path())[\"prefect.resource.id\"]",
                message: "required label is missing"
            )
        }
        if relatedIndex != nil && role == .none {
            throw EventDecodingError(
                code: .missingField,
                byteOffset: objectOffset,
                fieldPath: "\(path())[\"prefect.resource.role\"]",
                message: "required label of a related resource is missing"
            )
        }
        let record = ResourceRecord(
            role: relatedIndex == nil ? .none : role,
            labelStart: UInt32(labelStart),
            labelCount: UInt32(header.labels.count - labelStart),
            idLabelIndex: UInt32(idLabelIndex)
        )
        if relatedIndex == nil {
            if header.resources.isEmpty { header.resources.append(record) } else { header.resources[0] = record }
        } else {
            header.resources.append(record)
        }
    }

    // MARK: - Payload

    private mutating func decodePayload(
        _ scanner: inout JSONScanner,
        _ header: inout EventHeader
    )
        throws(EventDecodingError)
    {
        let start = scanner.index
        guard scanner.peek() == UInt8(ascii: "{") else { throw typeError(scanner, "payload", "an object") }
        try scanner.enterContainerOrFail("payload")
        scanner.index += 1
        var seenData = false
        var seenContext = false
        try scanner.forEachMember("payload", separator: "',' or '}' in payload") {
            (scanner: inout JSONScanner, key: JSONStringToken, keyOffset: Int) throws(EventDecodingError) in
            if !key.hasEscapes && scanner.bytes(in: key.range, equal: "data") {
                try Self.markFirst(&seenData, keyOffset, "payload.data")
                header.payloadDataRange = try scanner.skipValueOrFail("payload.data")
            } else if !key.hasEscapes && scanner.bytes(in: key.range, equal: "context") {
                try Self.markFirst(&seenContext, keyOffset, "payload.context")
                try decodeContext(&scanner, &header)
            } else {
                try scanner.skipValueOrFail("payload")
            }
        }
        header.payloadRange = start..<scanner.index
    }

    /// `payload.context`: reads `branch.name` and `account_id`; everything else is validated and skipped.
    private mutating func decodeContext(
        _ scanner: inout JSONScanner,
        _ header: inout EventHeader
    )
        throws(EventDecodingError)
    {
        guard scanner.peek() == UInt8(ascii: "{") else {
            // `null` or another value: Infrahub treats it as "no context" (§c.4).
            try scanner.skipValueOrFail("payload.context")
            return
        }
        header.hasContext = true
        try scanner.enterContainerOrFail("payload.context")
        scanner.index += 1
        try scanner.forEachMember("payload.context", separator: "',' or '}'") {
            (scanner: inout JSONScanner, key: JSONStringToken, _: Int) throws(EventDecodingError) in
            if !key.hasEscapes && scanner.bytes(in: key.range, equal: "account_id") {
                header.contextAccountID = try scanOptionalString(&scanner, "payload.context.account_id")
            } else if !key.hasEscapes && scanner.bytes(in: key.range, equal: "branch")
                && scanner.peek() == UInt8(ascii: "{")
            {
                try decodeContextBranch(&scanner, &header)
            } else {
                try scanner.skipValueOrFail("payload.context")
            }
        }
    }

    private mutating func decodeContextBranch(
        _ scanner: inout JSONScanner,
        _ header: inout EventHeader
    )
        throws(EventDecodingError)
    {
        try scanner.enterContainerOrFail("payload.context.branch")
        scanner.index += 1
        try scanner.forEachMember("payload.context.branch", separator: "',' or '}'") {
            (scanner: inout JSONScanner, key: JSONStringToken, _: Int) throws(EventDecodingError) in
            if !key.hasEscapes && scanner.bytes(in: key.range, equal: "name") {
                header.contextBranchName = try scanOptionalString(&scanner, "payload.context.branch.name")
            } else {
                try scanner.skipValueOrFail("payload.context.branch")
            }
        }
    }

    // MARK: - Derived header fields

    private mutating func deriveFields(
        _ scanner: inout JSONScanner,
        _ header: inout EventHeader
    )
        throws(EventDecodingError)
    {
        let primary = header.resources[0]
        if let kind = header.label(.infrahubNodeKind, of: primary) {
            header.nodeKind = try intern(scanner, kind, "resource[\"infrahub.node.kind\"]")
        }
        for resource in header.related {
            switch resource.role {
            case .roleBranch where header.branch == .none:
                if let label = header.label(.infrahubResourceLabel, of: resource) {
                    header.branch = try intern(scanner, label, "related[\"infrahub.resource.label\"]")
                }
            case .roleAccount where header.account == .none:
                if let label = header.label(.infrahubResourceID, of: resource) {
                    header.account = try intern(scanner, label, "related[\"infrahub.resource.id\"]")
                }
            case .roleEvent:
                if let label = header.label(.infrahubEventLevel, of: resource) {
                    header.level = try parseLevel(scanner, label)
                }
                if let label = header.label(.infrahubEventHasChildren, of: resource) {
                    header.hasChildren = scanner.bytes(in: label.valueRange, equal: "true")
                }
            case .roleChildEvent where header.parent == nil:
                if let label = header.label(.infrahubEventParentID, of: resource) {
                    guard
                        let parent = unsafe scanner.withBytes(
                            in: label.valueRange,
                            { raw in unsafe EventID.parse(raw) }
                        )
                    else {
                        throw EventDecodingError(
                            code: .invalidField,
                            byteOffset: label.valueRange.lowerBound,
                            fieldPath: "related[\"infrahub.event_parent.id\"]",
                            message: "must be a UUID"
                        )
                    }
                    header.parent = parent
                }
            default:
                break
            }
        }
        if header.branch == .none {
            if let name = header.contextBranchName {
                header.branch = try intern(scanner, name.range, name.hasEscapes, "payload.context.branch.name")
            } else if let label = header.label(.infrahubBranchName, of: primary) {
                header.branch = try intern(scanner, label, "resource[\"infrahub.branch.name\"]")
            }
        }
        if header.account == .none, let account = header.contextAccountID {
            header.account = try intern(scanner, account.range, account.hasEscapes, "payload.context.account_id")
        }
    }

    private func parseLevel(_ scanner: JSONScanner, _ label: LabelRecord) throws(EventDecodingError) -> Int32 {
        var value: Int32 = 0
        let range = label.valueRange
        var valid = !range.isEmpty && range.count <= 9
        for position in range where valid {
            let byte = scanner.byte(at: position)
            if isDigit(byte) { value = value * 10 + Int32(byte - UInt8(ascii: "0")) } else { valid = false }
        }
        guard valid else {
            throw EventDecodingError(
                code: .invalidField,
                byteOffset: range.lowerBound,
                fieldPath: "related[\"infrahub.event.level\"]",
                message: "must be a non-negative integer"
            )
        }
        return value
    }

    // MARK: - Field scanners

    private func scanStringField(
        _ scanner: inout JSONScanner,
        _ path: String
    ) throws(EventDecodingError)
        -> JSONStringToken
    {
        guard scanner.peek() == UInt8(ascii: "\"") else { throw typeError(scanner, path, "a string") }
        do {
            return try scanner.scanString()
        } catch {
            throw Self.wrap(error, path)
        }
    }

    private func scanOptionalString(
        _ scanner: inout JSONScanner,
        _ path: String
    ) throws(EventDecodingError)
        -> StringReference?
    {
        if scanner.peek() == UInt8(ascii: "n") {
            try scanLiteralField(&scanner, path)
            return nil
        }
        let token = try scanStringField(&scanner, path)
        return StringReference(range: token.range, hasEscapes: token.hasEscapes)
    }

    private func scanLiteralField(_ scanner: inout JSONScanner, _ path: String) throws(EventDecodingError) {
        do {
            _ = try scanner.scanLiteral()
        } catch {
            throw Self.wrap(error, path)
        }
    }

    private func scanTimestamp(
        _ scanner: inout JSONScanner,
        _ path: String
    ) throws(EventDecodingError) -> (Timestamp, Int16) {
        let token = try scanStringField(&scanner, path)
        guard !token.hasEscapes,
            let timestamp = unsafe scanner.withBytes(in: token.range, { raw in unsafe Timestamp.parseWithOffset(raw) })
        else {
            throw EventDecodingError(
                code: .invalidField,
                byteOffset: token.range.lowerBound - 1,
                fieldPath: path,
                message: "must be an RFC 3339 date-time such as 2025-03-13T16:31:14.566032Z (years 0001 to 9999)"
            )
        }
        return timestamp
    }

    private func scanEventID(_ scanner: inout JSONScanner, _ path: String) throws(EventDecodingError) -> EventID {
        let token = try scanStringField(&scanner, path)
        guard !token.hasEscapes,
            let id = unsafe scanner.withBytes(in: token.range, { raw in unsafe EventID.parse(raw) })
        else {
            throw EventDecodingError(
                code: .invalidField,
                byteOffset: token.range.lowerBound - 1,
                fieldPath: path,
                message: "must be a UUID such as bf569ddc-2a30-4491-82f1-0689f6cdb5e1"
            )
        }
        return id
    }

    // MARK: - Interning

    private mutating func intern(
        _ scanner: JSONScanner,
        _ token: JSONStringToken,
        _ offset: Int,
        _ path: @autoclosure () -> String
    )
        throws(EventDecodingError) -> Symbol
    {
        try intern(scanner, token.range, token.hasEscapes, path())
    }

    private mutating func intern(
        _ scanner: JSONScanner,
        _ label: LabelRecord,
        _ path: @autoclosure () -> String
    )
        throws(EventDecodingError) -> Symbol
    {
        try intern(scanner, label.valueRange, label.valueHasEscapes, path())
    }

    private mutating func intern(
        _ scanner: JSONScanner,
        _ range: Range<Int>,
        _ hasEscapes: Bool,
        _ path: @autoclosure () -> String
    )
        throws(EventDecodingError) -> Symbol
    {
        let symbol: Symbol?
        if hasEscapes {
            scratch.removeAll(keepingCapacity: true)
            scanner.appendUnescaped(JSONStringToken(range: range, hasEscapes: true), to: &scratch)
            symbol = unsafe scratch.withUnsafeBytes { raw in unsafe symbols.intern(raw) }
        } else {
            symbol = unsafe scanner.withBytes(in: range) { raw in unsafe symbols.intern(raw) }
        }
        guard let symbol else {
            throw EventDecodingError(
                code: .symbolTableFull,
                byteOffset: range.lowerBound,
                fieldPath: path(),
                message: "symbol table is full (\(symbols.symbolCountMax) symbols)"
            )
        }
        return symbol
    }

    // MARK: - Errors

    private func typeError(_ scanner: JSONScanner, _ path: String, _ expected: String) -> EventDecodingError {
        let found: String
        if scanner.index >= scanner.count {
            found = "end of input"
        } else {
            switch scanner.byte(at: scanner.index) {
            case UInt8(ascii: "{"): found = "an object"
            case UInt8(ascii: "["): found = "an array"
            case UInt8(ascii: "\""): found = "a string"
            case UInt8(ascii: "t"), UInt8(ascii: "f"): found = "a boolean"
            case UInt8(ascii: "n"): found = "null"
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): found = "a number"
            default: found = scanner.describe(scanner.byte(at: scanner.index))
            }
        }
        return EventDecodingError(
            code: .invalidField,
            byteOffset: scanner.index,
            fieldPath: path,
            message: "must be \(expected), found \(found)"
        )
    }

    /// Marks a payload member seen; a second one is a duplicate field at `keyOffset`.
    private static func markFirst(_ seen: inout Bool, _ keyOffset: Int, _ path: String) throws(EventDecodingError) {
        guard !seen else {
            throw EventDecodingError(
                code: .duplicateField,
                byteOffset: keyOffset,
                fieldPath: path,
                message: "field appears twice"
            )
        }
        seen = true
    }

    static func wrap(_ error: JSONError, _ path: String) -> EventDecodingError {
        EventDecodingError(code: .invalidJSON, byteOffset: error.byteOffset, fieldPath: path, message: error.message)
    }
}

extension JSONScanner {
    fileprivate mutating func enterContainerOrFail(_ path: @autoclosure () -> String) throws(EventDecodingError) {
        do {
            try enterContainer()
        } catch {
            throw EventDecoder.wrap(error, path())
        }
    }

    /// The one member loop of the decoder. The scanner is inside an object (its `{` consumed, its depth
    /// entered); for each member this scans the key and the colon and calls `member` with the key and its byte
    /// offset, which must consume the value; then it leaves the object after its `}`. Errors name `path`.
    @inline(__always)
    fileprivate mutating func forEachMember(
        _ path: @autoclosure () -> String,
        colon: StaticString = "':' after a key",
        separator: StaticString,
        _ member: (inout JSONScanner, JSONStringToken, Int) throws(EventDecodingError) -> Void
    ) throws(EventDecodingError) {
        if !consume(UInt8(ascii: "}")) {
            repeat {
                let keyOffset = index
                let key: JSONStringToken
                do {
                    key = try scanString()
                    try expect(UInt8(ascii: ":"), colon)
                } catch {
                    throw EventDecoder.wrap(error, path())
                }
                try member(&self, key, keyOffset)
            } while try continueOrFail(close: UInt8(ascii: "}"), separator, path())
        }
        depth -= 1
    }

    /// Skips one value (validating it), failing with `path`; returns its byte range.
    @inline(__always) @discardableResult
    fileprivate mutating func skipValueOrFail(
        _ path: @autoclosure () -> String
    ) throws(EventDecodingError) -> Range<Int> {
        do {
            return try skipValue()
        } catch {
            throw EventDecoder.wrap(error, path())
        }
    }

    fileprivate mutating func continueOrFail(
        close: UInt8,
        _ what: StaticString,
        _ path: @autoclosure () -> String
    )
        throws(EventDecodingError) -> Bool
    {
        do {
            return try continueContainer(close: close, what)
        } catch {
            throw EventDecoder.wrap(error, path())
        }
    }
}
