import Logging
import Sluice

#if canImport(Glibc)
import Glibc
#endif

/// A swift-log handler that writes one JSON object per line to standard error (`server.log_format: json`):
/// `{"time":"2026-12-07T21:44:00.123456Z","level":"notice","label":"sluice.serve","message":"…",…metadata}`.
///
/// Values are strings (metadata is flattened with its description). Secrets are never passed to the
/// logger: tokens and GitHub secrets stay inside the token check and the verifiers. Thread-safe: each
/// line is one `write(2)` of a complete buffer.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .notice
    var metadata: Logger.Metadata = [:]

    init(label: String) { self.label = label }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var line: [UInt8] = Array("{\"time\":".utf8)
        var time: [UInt8] = []
        Timestamp.now().append(.prefect, to: &time)
        JSONString.appendQuoted(time, to: &line)
        for (key, value) in [("level", event.level.rawValue), ("label", label), ("message", event.message.description)]
        {
            line.append(UInt8(ascii: ","))
            JSONString.appendQuoted(key, to: &line)
            line.append(UInt8(ascii: ":"))
            JSONString.appendQuoted(value, to: &line)
        }
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        for key in merged.keys.sorted() where !["time", "level", "label", "message"].contains(key) {
            line.append(UInt8(ascii: ","))
            JSONString.appendQuoted(key, to: &line)
            line.append(UInt8(ascii: ":"))
            JSONString.appendQuoted(merged[key]!.description, to: &line)  // a key of `merged.keys`
        }
        line += Array("}\n".utf8)
        // Standard error is unbuffered; a short write of a log line is not worth retrying.
        _ = line.withUnsafeBytes { raw in write(2, raw.baseAddress, raw.count) }
    }
}
