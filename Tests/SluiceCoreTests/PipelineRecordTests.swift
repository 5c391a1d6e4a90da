import SluiceCore
import Testing

/// The byte formats the pipeline writes (FORMAT.md "Record bodies written by the pipeline") and the URL
/// split it sends with.
@Suite struct PipelineRecordTests {
    /// Version 2 configuration change records carry the whole configuration in the documented key order and
    /// read back equal; version 1 summaries stay readable and are not replayable; other versions are refused.
    @Test func configurationRecordsAreVersioned() throws {
        let configuration: JSONValue = [
            "default_branch": "main",
            "webhooks": [["name": "audit", "url": "https://x/", "shared_key": "s3cret"]],
            "triggers": [],
        ]
        let record = ConfigurationRecord(
            generation: 3,
            at: Timestamp(microsecondsSinceEpoch: 1_796_148_000_500_000),
            configuration: configuration
        )
        let text = String(decoding: record.encoded(), as: UTF8.self)
        #expect(
            text
                == #"{"version":2,"generation":3,"at":"2026-12-01T18:00:00.500000Z","configuration":{"default_branch":"main","webhooks":[{"name":"audit","url":"https://x/","shared_key":"s3cret"}],"triggers":[]}}"#
        )
        let decoded = try ConfigurationRecord(decoding: record.encoded())
        #expect(decoded == record)
        #expect(decoded.isReplayable)
        let summary = try ConfigurationRecord(
            decoding: Array(
                #"{"generation":1,"webhooks":["audit","ops"],"triggers":3,"at":"2026-12-01T18:00:00Z"}"#.utf8
            )
        )
        #expect(summary.version == 1)
        #expect(summary.generation == 1)
        #expect(!summary.isReplayable)
        #expect(
            throws: ConfigurationRecordError(
                field: "version",
                message: "version 3 is not known (this build reads 1 and 2)"
            )
        ) {
            try ConfigurationRecord(decoding: Array(#"{"version":3,"generation":1,"at":"2026-12-01T18:00:00Z"}"#.utf8))
        }
        #expect(throws: ConfigurationRecordError.self) {
            try ConfigurationRecord(
                decoding: Array(
                    #"{"version":2,"generation":1,"at":"2026-12-01T18:00:00Z","configuration":{"log":{}}}"#.utf8
                )
            )
        }
        #expect(throws: ConfigurationRecordError.self) { try ConfigurationRecord(decoding: Array("{".utf8)) }
    }

    @Test func outcomeRecordsRoundTripInTheDocumentedKeyOrder() throws {
        let record = DeliveryOutcomeRecord(
            eventSequence: 42,
            eventID: EventID.parse("bf569ddc-2a30-4491-82f1-0689f6cdb5e1")!,
            webhook: "audit \"x\"",
            webhookID: "msg_6bb2b106133843c884093d0ba9b890cb",
            attempt: 2,
            outcome: .retrying,
            statusCode: 503,
            failureClass: .httpServerError,
            message: "The target responded with HTTP 503.",
            at: Timestamp(microsecondsSinceEpoch: 1_796_148_000_000_000)
        )
        let text = String(decoding: record.encoded(), as: UTF8.self)
        #expect(
            text
                == #"{"event_sequence":42,"event_id":"bf569ddc-2a30-4491-82f1-0689f6cdb5e1","webhook":"audit \"x\"","webhook_id":"msg_6bb2b106133843c884093d0ba9b890cb","attempt":2,"outcome":"retrying","status":503,"failure_class":"HTTP_SERVER_ERROR","message":"The target responded with HTTP 503.","at":"2026-12-01T18:00:00Z"}"#
        )
        #expect(try DeliveryOutcomeRecord(decoding: record.encoded()) == record)
        var delivered = record
        delivered.outcome = .delivered
        delivered.statusCode = 204
        delivered.failureClass = nil
        delivered.message = nil
        #expect(try DeliveryOutcomeRecord(decoding: delivered.encoded()) == delivered)
        #expect(DeliveryOutcomeRecord.Outcome.delivered.isFinal && DeliveryOutcomeRecord.Outcome.deadLettered.isFinal)
        #expect(
            !DeliveryOutcomeRecord.Outcome.retrying.isFinal && !DeliveryOutcomeRecord.Outcome.redriveRequested.isFinal
        )
    }

    @Test(arguments: [
        (#"{"event_id":"bf569ddc-2a30-4491-82f1-0689f6cdb5e1"}"#, "event_sequence"),
        (#"{"event_sequence":-1}"#, "event_sequence"),
        (
            #"{"event_sequence":1,"event_id":"x","webhook":"a","webhook_id":"m","attempt":1,"outcome":"delivered","at":"2026-12-01T18:00:00Z"}"#,
            "event_id"
        ),
        (
            #"{"event_sequence":1,"event_id":"bf569ddc-2a30-4491-82f1-0689f6cdb5e1","webhook":"a","webhook_id":"m","attempt":1,"outcome":"lost","at":"2026-12-01T18:00:00Z"}"#,
            "outcome"
        ),
        ("not json", ""),
    ])
    func badOutcomeRecordsNameTheField(body: String, field: String) {
        #expect(throws: DeliveryOutcomeRecordError.self) { try DeliveryOutcomeRecord(decoding: Array(body.utf8)) }
        do {
            _ = try DeliveryOutcomeRecord(decoding: Array(body.utf8))
        } catch {
            #expect(error.field == field)
        }
    }

    @Test func urlsSplitIntoOriginAndTarget() throws {
        let plain = try HTTPURL("http://127.0.0.1:8080/hooks/infrahub?x=1")
        #expect(!plain.isTLS && plain.host == "127.0.0.1" && plain.port == 8080)
        #expect(plain.target == "/hooks/infrahub?x=1" && plain.authority == "127.0.0.1:8080")
        let secure = try HTTPURL("https://hooks.example")
        #expect(secure.isTLS && secure.port == 443 && secure.target == "/" && secure.authority == "hooks.example")
        let query = try HTTPURL("http://h?only=query")
        #expect(query.target == "/?only=query" && query.port == 80)
        let v6 = try HTTPURL("http://[::1]:9000/x")
        #expect(v6.host == "::1" && v6.port == 9000 && v6.authority == "[::1]:9000")
        for bad in [
            "ftp://x/", "http://", "http://user@host/", "http://h:0/", "http://h:99999/", "http://h/a b", "http://h/#f",
            "http://[::1/",
        ] {
            #expect(throws: HTTPURLError.self, "\(bad)") { try HTTPURL(bad) }
        }
    }
}
