/// The wire views an event file can be converted to (spec §a.6).
public enum EventView: String, CaseIterable, Sendable {
    /// Prefect-style event JSON, compact.
    case prefect
    /// The Infrahub webhook body, byte-exact (spec §c.4).
    case webhookBody = "webhook-body"
    /// The GraphQL `EventNodeInterface` object.
    case graphql
}

/// What a pass over JSON Lines event files found.
public struct EventFileSummary: Sendable {
    public var fileCount = 0
    public var lineCount = 0
    public var validCount = 0
    public var invalidCount = 0
    public var byteCount = 0
    public var outputByteCount = 0
    /// Valid events per event name, most frequent first.
    public var countsByName: [(name: String, count: Int)] = []
    public var earliest: Timestamp?
    public var latest: Timestamp?
}

/// File-level event operations: validation and conversion of JSON Lines streams, in constant memory.
///
/// Each line is decoded strictly by ``EventDecoder``; every bad line is reported through `onError`
/// with its file, line, absolute byte offset and field path, and the pass continues.
public enum EventFiles {
    /// Validates every line of every file.
    public static func validate(
        paths: [String],
        limits: EventLimits = EventLimits(),
        onError: (EventDecodingError) -> Void
    ) throws(SystemCallError) -> EventFileSummary {
        try process(paths: paths, limits: limits, view: nil, output: nil, onError: onError)
    }

    /// Converts every valid line of every file to `view`, one output line per event.
    public static func convert(
        paths: [String],
        to view: EventView,
        output: BufferedWriter,
        limits: EventLimits = EventLimits(),
        onError: (EventDecodingError) -> Void
    ) throws(SystemCallError) -> EventFileSummary {
        try process(paths: paths, limits: limits, view: view, output: output, onError: onError)
    }

    private static func process(
        paths: [String],
        limits: EventLimits,
        view: EventView?,
        output: BufferedWriter?,
        onError: (EventDecodingError) -> Void
    ) throws(SystemCallError) -> EventFileSummary {
        var summary = EventFileSummary()
        var decoder = EventDecoder(limits: limits)
        var header = EventHeader()
        var counts: [Symbol: Int] = [:]
        var writeError: SystemCallError?
        let outputStart = output?.byteCount ?? 0
        for path in paths {
            summary.fileCount += 1
            let reader = try LineReader(path: path, lineByteCountMax: limits.eventByteCountMax)
            defer { reader.close() }
            unsafe try reader.forEachLine(
                onOversizeLine: { line, lineStart, byteCount in
                    summary.lineCount += 1
                    summary.invalidCount += 1
                    summary.byteCount += byteCount
                    onError(
                        EventDecodingError(
                            code: .limitExceeded,
                            byteOffset: 0,
                            fieldPath: "",
                            message: "event is \(byteCount) bytes, more than the limit of \(limits.eventByteCountMax)"
                        )
                        .located(line: line, lineStart: lineStart, source: path)
                    )
                },
                onLine: { line, lineStart, bytes in
                    summary.lineCount += 1
                    summary.byteCount += bytes.count + 1
                    guard unsafe !bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) else {
                        summary.invalidCount += 1
                        onError(
                            EventDecodingError(
                                code: .emptyLine,
                                byteOffset: 0,
                                fieldPath: "",
                                message: "blank line (JSON Lines holds one event per line)"
                            )
                            .located(line: line, lineStart: lineStart, source: path)
                        )
                        return
                    }
                    do throws(EventDecodingError) {
                        try unsafe decoder.decodeHeader(bytes, into: &header)
                    } catch {
                        summary.invalidCount += 1
                        onError(error.located(line: line, lineStart: lineStart, source: path))
                        return
                    }
                    summary.validCount += 1
                    counts[header.name, default: 0] += 1
                    if summary.earliest.map({ header.occurred < $0 }) ?? true { summary.earliest = header.occurred }
                    if summary.latest.map({ header.occurred > $0 }) ?? true { summary.latest = header.occurred }
                    guard let view, let output, writeError == nil else { return }
                    let event = unsafe Event(header: header, bytes: Array(bytes))
                    do throws(SystemCallError) {
                        try output.append { target in
                            switch view {
                            case .prefect: event.appendPrefectJSON(to: &target)
                            case .webhookBody: event.appendWebhookBody(to: &target)
                            case .graphql: event.appendGraphQLNode(to: &target)
                            }
                            target.append(0x0A)
                        }
                    } catch {
                        writeError = error
                    }
                }
            )
            if let writeError { throw writeError }
        }
        try output?.flush()
        summary.outputByteCount = (output?.byteCount ?? 0) - outputStart
        summary.countsByName = counts.map { (decoder.symbols.string($0.key), $0.value) }
            .sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }
        return summary
    }
}
