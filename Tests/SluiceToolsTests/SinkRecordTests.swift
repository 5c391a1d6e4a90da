import SluiceCore
import SluiceTestSupport
import SluiceTools
import Testing

@Suite struct SinkFaultConfigurationTests {
    static let example = """
        { "status": 202,
          "faults": [
            { "rate": 0.10, "status": 503 },
            { "rate": 0.05, "status": 429, "retry_after_seconds": 2 },
            { "rate": 0.20, "delay_ms": 150 },
            { "rate": 0.01, "reset": true },
            { "rate": 0.04, "slow_body": { "byte_count": 4096, "bytes_per_second": 512 } } ] }
        """

    @Test func parsesEveryKindOfFault() throws {
        let configuration = try SinkFaultConfiguration(jsonBytes: Array(Self.example.utf8))
        #expect(configuration.defaultStatusCode == 202)
        #expect(
            configuration.rules == [
                .init(rateMillionths: 100_000, plan: SinkResponsePlan(statusCode: 503, ruleIndex: 0)),
                .init(
                    rateMillionths: 50_000,
                    plan: SinkResponsePlan(statusCode: 429, retryAfterSeconds: 2, ruleIndex: 1)
                ),
                .init(
                    rateMillionths: 200_000,
                    plan: SinkResponsePlan(statusCode: 202, delayMilliseconds: 150, ruleIndex: 2)
                ),
                .init(rateMillionths: 10_000, plan: SinkResponsePlan(statusCode: 202, reset: true, ruleIndex: 3)),
                .init(
                    rateMillionths: 40_000,
                    plan: SinkResponsePlan(
                        statusCode: 202,
                        slowBody: SinkSlowBody(byteCount: 4096, bytesPerSecond: 512),
                        ruleIndex: 4
                    )
                ),
            ]
        )
        #expect(try SinkFaultConfiguration(jsonBytes: Array("{}".utf8)) == SinkFaultConfiguration())
        let inherited = try SinkFaultConfiguration(
            jsonBytes: Array(
                #"{"faults": [{"rate": 1, "slow_body": {"byte_count": 64, "bytes_per_second": 640}}]}"#.utf8
            )
        )
        #expect(inherited.rules.first?.plan.statusCode == 200, "the default 204 cannot carry the slow body")
    }

    @Test(arguments: [
        ("[]", "sink", "must be an object"),
        ("{\"statuss\": 200}", "statuss", "unknown field (expected one of faults, status)"),
        ("{\"status\": 42}", "status", "must be an integer in 100...999"),
        ("{\"faults\": {}}", "faults", "must be an array"),
        ("{\"faults\": [{\"status\": 500}]}", "faults[0].rate", "required, a number in 0...1"),
        ("{\"faults\": [{\"rate\": 1.5}]}", "faults[0].rate", "must be a number in 0...1"),
        ("{\"faults\": [{\"rate\": \"0.5\"}]}", "faults[0].rate", "must be a number in 0...1"),
        ("{\"faults\": [{\"rate\": 0.6}, {\"rate\": 0.5}]}", "faults[1].rate", "rates sum to more than 1"),
        (
            "{\"faults\": [{\"rate\": 0.1, \"delay\": 5}]}", "faults[0].delay",
            "unknown field (expected one of delay_ms, rate, reset, retry_after_seconds, slow_body, status)"
        ),
        ("{\"faults\": [{\"rate\": 0.1, \"delay_ms\": -1}]}", "faults[0].delay_ms", "must be an integer in 0...600000"),
        ("{\"faults\": [{\"rate\": 0.1, \"reset\": 1}]}", "faults[0].reset", "must be true or false"),
        (
            "{\"faults\": [{\"rate\": 0.1, \"slow_body\": {\"byte_count\": 5}}]}", "faults[0].slow_body",
            "needs byte_count and bytes_per_second"
        ),
        (
            "{\"faults\": [{\"rate\": 0.1, \"status\": 204, \"slow_body\": {\"byte_count\": 5, \"bytes_per_second\": 1}}]}",
            "faults[0].slow_body", "status 204 has no body"
        ),
        (
            "{\"faults\": [{\"rate\": 0.1, \"slow_body\": {\"byte_count\": 0, \"bytes_per_second\": 1}}]}",
            "faults[0].slow_body.byte_count", "must be an integer in 1...67108864"
        ),
    ])
    func errorsNameTheField(text: String, field: String, message: String) {
        #expect(throws: DeliveryConfigurationError(field: field, message: message)) {
            try SinkFaultConfiguration(jsonBytes: Array(text.utf8))
        }
    }

    /// The example in docs/load-testing.md ("Sink faults") is accepted as written.
    @Test func documentedExampleParses() throws {
        let page = try readRepositoryFile("docs/load-testing.md").utf8String
        let section = try #require(page.split(separator: "## Sink faults").last)
        let start = try #require(section.firstRange(of: "```json\n"))
        let end = try #require(section[start.upperBound...].firstRange(of: "\n```"))
        let configuration = try SinkFaultConfiguration(
            jsonBytes: Array(section[start.upperBound..<end.lowerBound].utf8)
        )
        #expect(configuration.rules.count == 5)
        #expect(configuration.rules.last?.plan.slowBody == SinkSlowBody(byteCount: 4096, bytesPerSecond: 512))
    }

    @Test func syntaxErrorsSayWhere() {
        do {
            _ = try SinkFaultConfiguration(jsonBytes: Array("{\"status\": }".utf8))
            Issue.record("accepted bad JSON")
        } catch {
            #expect(error.field == "sink")
            #expect(error.message.contains("byte offset 11"))
        }
    }

    /// Observed shares match the configured rates (seeded; 4-sigma tolerance).
    @Test func decisionsFollowTheRates() throws {
        let configuration = try SinkFaultConfiguration(jsonBytes: Array(Self.example.utf8))
        let seed = testSeed()
        var random = SplitMix64(seed: seed)
        let drawCount = 200_000
        var counts = [Int](repeating: 0, count: configuration.rules.count + 1)
        for _ in 0..<drawCount {
            let plan = configuration.decide(random: &random)
            counts[plan.ruleIndex ?? configuration.rules.count] += 1
            if plan.ruleIndex == nil { #expect(plan == SinkResponsePlan(statusCode: 202)) }
        }
        let expected = configuration.rules.map { Double($0.rateMillionths) / 1e6 } + [0.6]
        for (index, share) in expected.enumerated() {
            let observed = Double(counts[index]) / Double(drawCount)
            let sigma = (share * (1 - share) / Double(drawCount)).squareRoot()
            #expect(abs(observed - share) <= 4 * sigma, "rule \(index): \(observed) vs \(share), seed \(seed)")
        }
    }
}

@Suite struct SinkResponsePlanTests {
    /// The head of the response that `bytes` start with.
    static func responseHead(_ bytes: [UInt8]) throws -> HTTPResponseHead? {
        var parser = HTTPResponseParser()
        guard case .head(let head) = try parser.next(bytes.span).event else { return nil }
        return head
    }

    @Test func responseHeadsParseBack() throws {
        var bytes: [UInt8] = []
        try SinkResponsePlan(statusCode: 429, retryAfterSeconds: 2).appendResponseHead(keepAlive: true, to: &bytes)
        #expect(bytes.utf8String == "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 2\r\nContent-Length: 0\r\n\r\n")
        let head = try #require(try Self.responseHead(bytes))
        #expect(head.retryAfter == .seconds(2))
        #expect(head.keepAlive == true)
        bytes.removeAll()
        try SinkResponsePlan(statusCode: 204).appendResponseHead(keepAlive: false, to: &bytes)
        #expect(bytes.utf8String == "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
        bytes.removeAll()
        let slow = SinkResponsePlan(statusCode: 200, slowBody: SinkSlowBody(byteCount: 10, bytesPerSecond: 4))
        try slow.appendResponseHead(keepAlive: true, to: &bytes)
        #expect(bytes.utf8String == "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n")
    }

    @Test func slowBodyPacing() {
        let body = SinkSlowBody(byteCount: 10, bytesPerSecond: 4)
        #expect(body.byteCountDue(elapsedNanoseconds: 0) == 0)
        #expect(body.byteCountDue(elapsedNanoseconds: 249_999_999) == 0)
        #expect(body.byteCountDue(elapsedNanoseconds: 250_000_000) == 1)
        #expect(body.byteCountDue(elapsedNanoseconds: 2_000_000_000) == 8)
        #expect(body.byteCountDue(elapsedNanoseconds: 60_000_000_000) == 10)
        #expect(body.byteCountDue(elapsedNanoseconds: .max) == 10)
        #expect(body.durationNanoseconds == 2_500_000_000)
    }
}

@Suite struct SinkDeliveryRecordTests {
    static let record = SinkDeliveryRecord(
        arrivedAt: Timestamp(secondsSinceEpoch: 1_740_656_629, microseconds: 64_807),
        eventID: "217b4ebc-b84f-4736-b1ee-222182aed371",
        webhookID: "msg_217b4ebcb84f4736b1ee222182aed371",
        webhookTimestamp: 1_740_656_629,
        statusCode: 204,
        signature: .valid
    )

    @Test func encodesOneLineInKeyOrder() {
        var bytes: [UInt8] = []
        Self.record.appendLine(to: &bytes)
        #expect(
            bytes.utf8String
                == "{\"arrived_at\":\"2025-02-27T11:43:49.064807Z\",\"event_id\":\"217b4ebc-b84f-4736-b1ee-222182aed371\","
                + "\"webhook_id\":\"msg_217b4ebcb84f4736b1ee222182aed371\",\"webhook_timestamp\":1740656629,"
                + "\"status\":204,\"signature\":\"valid\"}\n"
        )
    }

    @Test func roundTripsIncludingNulls() throws {
        let reset = SinkDeliveryRecord(
            arrivedAt: Timestamp(secondsSinceEpoch: 1_740_656_630),
            eventID: nil,
            webhookID: "msg_\"quoted\"",
            statusCode: nil
        )
        var bytes: [UInt8] = []
        Self.record.appendLine(to: &bytes)
        reset.appendLine(to: &bytes)
        #expect(try SinkDeliveryRecord.decodeLines(bytes) == [Self.record, reset])
    }

    @Test(arguments: [
        ("{\"arrived_at\":\"2025-02-27T11:43:49Z\",\"status\":204}\nnot json\n", 2, nil as String?),
        ("{\"status\":204}\n", 1, "arrived_at"),
        ("{\"arrived_at\":\"yesterday\"}\n", 1, "arrived_at"),
        ("{\"arrived_at\":\"2025-02-27T11:43:49Z\",\"status\":\"204\"}\n", 1, "status"),
        ("{\"arrived_at\":\"2025-02-27T11:43:49Z\",\"status\":20}\n", 1, "status"),
        ("{\"arrived_at\":\"2025-02-27T11:43:49Z\",\"event_id\":5}\n", 1, "event_id"),
        ("{\"arrived_at\":\"2025-02-27T11:43:49Z\",\"signature\":\"maybe\"}\n", 1, "signature"),
        ("{\"arrived_at\":\"2025-02-27T11:43:49Z\"}\n{\"arrived_at\":\"2025-02-27T11:4", 2, nil),
    ])
    func errorsNameLineAndField(text: String, lineNumber: Int, field: String?) {
        do {
            _ = try SinkDeliveryRecord.decodeLines(Array(text.utf8))
            Issue.record("accepted \(text.debugDescription)")
        } catch {
            #expect(error.lineNumber == lineNumber)
            #expect(error.field == field)
            #expect(error.description.hasPrefix("line \(lineNumber)"))
        }
    }
}
