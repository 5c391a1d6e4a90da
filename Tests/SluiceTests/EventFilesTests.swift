import Sluice
import SluiceTestSupport
import SluiceTools
import Testing

@Suite struct LineReaderTests {
    /// Lines straddling chunk boundaries, CRLF, a missing final newline and an oversize line.
    @Test(arguments: [1, 2, 3, 7, 64])
    func splitsLinesAcrossChunks(chunkByteCount: Int) throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let directory = temporary.path
        let path = directory + "/lines.txt"
        writeFile(path, Array("alpha\r\nbeta\n\nthis-line-is-too-long\ngamma".utf8))
        let reader = try LineReader(path: path, lineByteCountMax: 10, chunkByteCount: chunkByteCount)
        var lines: [String] = []
        var oversize: [(Int, Int, Int)] = []
        try reader.forEachLine(
            onOversizeLine: { oversize.append(($0, $1, $2)) },
            onLine: { number, start, bytes in
                lines.append("\(number)@\(start):" + String(decoding: bytes, as: UTF8.self))
            }
        )
        #expect(lines == ["1@0:alpha", "2@7:beta", "3@12:", "5@35:gamma"])
        #expect(oversize.count == 1)
        #expect(oversize.first?.0 == 4)
        #expect(oversize.first?.1 == 13)
        #expect(oversize.first?.2 == 21)
    }
}

@Suite struct EventFilesTests {
    @Test func validateReportsEveryBadLineWithItsPosition() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let directory = temporary.path
        let path = directory + "/events.jsonl"
        var generator = FixtureGenerator(.init(eventCount: 3, seed: 5))
        let good = generator.next()!
        var stream = good + [0x0A]
        stream +=
            Array(
                #"{"event":"x","occurred":"2025-01-01T00:00:00Z","id":"bf569ddc-2a30-4491-82f1-0689f6cdb5e1","resource":{"prefect.resource.id":"p","n":5}}"#
                    .utf8
            ) + [0x0A]
        stream += Array("\n".utf8)
        stream += generator.next()! + [0x0A]
        stream += Array(#"{"event":"x""#.utf8) + [0x0A]
        writeFile(path, stream)
        var errors: [EventDecodingError] = []
        let summary = try EventFiles.validate(paths: [path]) { errors.append($0) }
        #expect(summary.lineCount == 5)
        #expect(summary.validCount == 2)
        #expect(summary.invalidCount == 3)
        #expect(errors.map(\.line) == [2, 3, 5])
        #expect(errors[0].fieldPath == #"resource["n"]"#)
        #expect(errors[0].byteOffset == good.count + 1 + 133)
        #expect(errors[0].source == path)
        #expect(
            errors[0].description.hasPrefix(
                "\(path):2: byte offset \(good.count + 134): resource[\"n\"]: must be a string"
            )
        )
        #expect(errors[1].code == .emptyLine)
        #expect(errors[2].code == .invalidJSON)
    }

    @Test func oversizeEventIsReportedNotDropped() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let directory = temporary.path
        let path = directory + "/events.jsonl"
        var generator = FixtureGenerator(.init(eventCount: 2, seed: 5))
        writeFile(path, generator.next()! + [0x0A] + generator.next()! + [0x0A])
        var limits = EventLimits()
        limits.eventByteCountMax = 1000
        var errors: [EventDecodingError] = []
        let summary = try EventFiles.validate(paths: [path], limits: limits) { errors.append($0) }
        #expect(summary.validCount + summary.invalidCount == 2)
        #expect(errors.allSatisfy { $0.code == .limitExceeded })
        #expect(errors.count == summary.invalidCount)
    }

    @Test func generateValidateAndConvertRoundTrip() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let directory = temporary.path
        let eventsPath = directory + "/events.jsonl"
        let configuration = FixtureGenerator.Configuration(eventCount: 5000, seed: 11)
        let byteCount = try FixtureFiles.generateEvents(configuration, path: eventsPath)
        var errors: [EventDecodingError] = []
        let summary = try EventFiles.validate(paths: [eventsPath]) { errors.append($0) }
        #expect(errors.isEmpty)
        #expect(summary.validCount == 5000)
        #expect(summary.byteCount == byteCount)
        #expect(summary.countsByName.count == 31)
        for view in EventView.allCases {
            let outputPath = directory + "/\(view.rawValue).jsonl"
            let writer = try BufferedWriter(path: outputPath)
            let converted = try EventFiles.convert(paths: [eventsPath], to: view, output: writer) { _ in
                Issue.record("invalid")
            }
            try writer.close()
            #expect(converted.validCount == 5000)
            var lines = 0
            try LineReader(path: outputPath, lineByteCountMax: 1 << 21).forEachLine(
                onOversizeLine: { _, _, _ in Issue.record("oversize output line") },
                onLine: { _, _, bytes in
                    lines += 1
                    #expect(throws: Never.self) { try JSONValue.parse(Array(bytes)) }
                }
            )
            #expect(lines == 5000)
        }
        let triggersPath = directory + "/triggers.json"
        try FixtureFiles.generateTriggers(configuration, count: 50, path: triggersPath)
        let configurationValue = try JSONValue.parse(try readWholeFile(path: triggersPath, byteCountMax: 1 << 20))
        let webhookCount = configurationValue["webhooks"]?.arrayValue?.count ?? 0
        let triggerCount = configurationValue["triggers"]?.arrayValue?.count ?? 0
        #expect(webhookCount + triggerCount == 50)
        #expect(webhookCount > triggerCount, "most entries are webhooks")
        #expect(throws: Never.self) { try TriggerConfiguration(json: configurationValue) }
    }

    /// The committed Infrahub fixtures validate.
    @Test func committedInfrahubFixturesValidate() throws {
        var errors: [EventDecodingError] = []
        let summary = try EventFiles.validate(paths: [packageRoot + "/fixtures/infrahub/all-event-types.jsonl"]) {
            errors.append($0)
        }
        #expect(errors.isEmpty)
        #expect(summary.validCount == 31)
    }
}
