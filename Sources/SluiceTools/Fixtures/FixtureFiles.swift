/// Writes generated fixture streams and trigger configurations to files, in constant memory.
public enum FixtureFiles {
    /// Writes `configuration.eventCount` events as JSON Lines to `path` (`-` for standard output).
    /// `progress` is called every `progressInterval` events with the count written so far.
    /// - Returns: the number of bytes written.
    @discardableResult
    public static func generateEvents(
        _ configuration: FixtureGenerator.Configuration,
        path: String,
        progressInterval: Int = 100_000,
        progress: (Int) -> Void = { _ in }
    ) throws(SystemCallError) -> Int {
        let writer = try BufferedWriter(path: path)
        var generator = FixtureGenerator(configuration)
        while let event = generator.next() {
            try writer.append { target in
                target.append(contentsOf: event)
                target.append(0x0A)
            }
            if generator.producedCount % progressInterval == 0 { progress(generator.producedCount) }
        }
        try writer.close()
        return writer.byteCount
    }

    /// Writes a configuration of `count` webhooks and triggers for the events of `configuration`
    /// (``TriggerFixtureGenerator``): `{"webhooks":[…],"triggers":[…]}`, one entry per line. The generator is
    /// deterministic, so it runs twice (webhooks, then triggers) instead of holding the configuration.
    @discardableResult
    public static func generateTriggers(
        _ configuration: FixtureGenerator.Configuration,
        count: Int,
        path: String,
        port: Int = 9000
    ) throws(SystemCallError) -> Int {
        precondition(count >= 0)
        let writer = try BufferedWriter(path: path)
        for (key, wantsWebhooks) in [("webhooks", true), ("triggers", false)] {
            try writer.write(wantsWebhooks ? "{\"\(key)\":[\n" : "],\n\"\(key)\":[\n")
            var generator = TriggerFixtureGenerator(configuration, count: count)
            var first = true
            for index in 0..<count {
                let entry = generator.entry(index: index, port: port)
                let isWebhook = if case .webhook = entry { true } else { false }
                guard isWebhook == wantsWebhooks else { continue }
                try writer.append { target in
                    if !first { target.append(contentsOf: ",\n".utf8) }
                    entry.json.write(to: &target)
                }
                first = false
            }
        }
        try writer.write("\n]}\n")
        try writer.close()
        return writer.byteCount
    }
}
