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

    /// Writes a configuration of `count` webhooks that match the events of `configuration`:
    /// `{"webhooks":[…]}`, one webhook per line.
    @discardableResult
    public static func generateTriggers(
        _ configuration: FixtureGenerator.Configuration,
        count: Int,
        path: String,
        port: Int = 9000
    ) throws(SystemCallError) -> Int {
        precondition(count >= 0)
        let writer = try BufferedWriter(path: path)
        var generator = TriggerFixtureGenerator(configuration)
        try writer.write("{\"webhooks\":[\n")
        for index in 0..<count {
            let webhook = generator.webhook(index: index, port: port)
            try writer.append { target in
                webhook.write(to: &target)
                if index + 1 < count { target.append(UInt8(ascii: ",")) }
                target.append(0x0A)
            }
        }
        try writer.write("]}\n")
        try writer.close()
        return writer.byteCount
    }
}
