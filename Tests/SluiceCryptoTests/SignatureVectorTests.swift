import SluiceCore
import SluiceCrypto
import SluiceTestSupport
import Testing

/// Every vector in fixtures/standard-webhooks, fixtures/infrahub-webhook and fixtures/github-signature
/// (byte copies of ../shared/fixtures; see their SOURCES.md).
@Suite struct SignatureVectorTests {
    static func vectors(_ folder: String) throws -> JSONValue {
        try JSONValue.parse(try readRepositoryFile("fixtures/\(folder)/vectors.json"))
    }

    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }

    // MARK: Standard Webhooks

    @Test func standardWebhooksSignAndVerifyVectors() throws {
        let file = try Self.vectors("standard-webhooks")
        let vectors = try #require(file["vectors"]?.arrayValue)
        #expect(vectors.count == 12)
        for vector in vectors {
            let name = try #require(vector["name"]?.stringValue)
            let secret = try #require(vector["secret"]?.stringValue)
            let id = try #require(vector["msg_id"]?.stringValue)
            let timestamp = try #require(vector["timestamp"]?.int64Value)
            let payload = Array(try #require(vector["payload"]?.stringValue).utf8)
            let key = try WebhookSigningKey(mode: .standard, secret: secret)
            #expect(Self.hex(key.bytes) == vector["key_hex"]?.stringValue, "\(name): key bytes")
            #expect(
                WebhookSignedContent.bytes(webhookID: id, timestamp: String(timestamp), body: payload)
                    == Array(try #require(vector["signed_content"]?.stringValue).utf8),
                "\(name): signed content"
            )
            let verifier = WebhookVerifier(keys: [key])
            if let expected = vector["expected_signature"]?.stringValue {
                let signer = HMACBatchSigner(keys: [key])
                let value = signer.signature(
                    keyIndex: 0,
                    webhookID: id,
                    timestampSeconds: UInt64(timestamp),
                    body: payload
                )
                #expect(value.description == expected, "\(name): signature")
                try verifier.verify(
                    webhookID: id,
                    timestamp: String(timestamp),
                    signature: expected,
                    body: payload,
                    nowSeconds: timestamp
                )
            }
            if let header = vector["signature_header"]?.stringValue {
                let outcome = Result { () throws(WebhookVerificationError) in
                    try verifier.verify(
                        webhookID: id,
                        timestamp: String(timestamp),
                        signature: header,
                        body: payload,
                        nowSeconds: timestamp
                    )
                }
                switch (vector["expect"]?.stringValue, outcome) {
                case ("valid", .success): break
                case ("invalid", .failure(let error)): #expect(error.code == .noMatchingSignature, "\(name)")
                default: Issue.record("\(name): expected \(vector["expect"]?.stringValue ?? "?"), got \(outcome)")
                }
            }
        }
    }

    @Test func standardWebhooksTimestampVectors() throws {
        let file = try Self.vectors("standard-webhooks")
        let basic = try #require(file["vectors"]?.arrayValue?.first)
        let key = try WebhookSigningKey(mode: .standard, secret: try #require(basic["secret"]?.stringValue))
        let id = try #require(basic["msg_id"]?.stringValue)
        let payload = Array(try #require(basic["payload"]?.stringValue).utf8)
        let signature = try #require(basic["expected_signature"]?.stringValue)
        let verifier = WebhookVerifier(keys: [key])
        let vectors = try #require(file["timestamp_vectors"]?.arrayValue)
        #expect(vectors.count == 5)
        for vector in vectors {
            let name = try #require(vector["name"]?.stringValue)
            let expect = try #require(vector["expect"]?.stringValue)
            let timestamp: String
            switch vector["header_timestamp"] {
            case .number(let text)?: timestamp = text
            case .string(let text)?: timestamp = text
            default:
                Issue.record("\(name): no header_timestamp")
                continue
            }
            let now = vector["now"]?.int64Value ?? 1_614_265_330
            let outcome = Result { () throws(WebhookVerificationError) in
                try verifier.verify(
                    webhookID: id,
                    timestamp: timestamp,
                    signature: signature,
                    body: payload,
                    nowSeconds: now
                )
            }
            switch (expect, outcome) {
            case ("accept", .success): break
            case ("reject: too old", .failure(let error)): #expect(error.code == .timestampTooOld, "\(name)")
            case ("reject: too new", .failure(let error)): #expect(error.code == .timestampTooNew, "\(name)")
            case ("reject: invalid timestamp", .failure(let error)): #expect(error.code == .invalidTimestamp, "\(name)")
            default: Issue.record("\(name): expected \(expect), got \(outcome)")
            }
        }
    }

    @Test func standardWebhooksErrorVectors() throws {
        let file = try Self.vectors("standard-webhooks")
        let basic = try #require(file["vectors"]?.arrayValue?.first)
        let verifier = try WebhookVerifier(standardSecret: try #require(basic["secret"]?.stringValue))
        let id = basic["msg_id"]?.stringValue
        let timestamp = basic["timestamp"]?.int64Value.map { String($0) }
        let signature = basic["expected_signature"]?.stringValue
        let payload = Array(try #require(basic["payload"]?.stringValue).utf8)
        let vectors = try #require(file["error_vectors"]?.arrayValue)
        #expect(vectors.count == 5)
        for vector in vectors {
            let name = try #require(vector["name"]?.stringValue)
            if let secret = vector["secret"]?.stringValue {
                #expect(throws: WebhookSigningKeyError.self, "\(name)") {
                    try WebhookSigningKey(mode: .standard, secret: secret)
                }
                continue
            }
            let missing = String(name.dropFirst("missing-".count))
            var headers: [(name: String, value: String)] = [
                ("Webhook-Id", id ?? ""), ("WEBHOOK-TIMESTAMP", timestamp ?? ""),
                ("webhook-signature", signature ?? ""),
            ]
            try verifier.verify(headers: headers, body: payload, nowSeconds: 1_614_265_330)
            headers.removeAll { $0.name.lowercased() == missing }
            #expect(headers.count == 2, "\(name)")
            do {
                try verifier.verify(headers: headers, body: payload, nowSeconds: 1_614_265_330)
                Issue.record("\(name): accepted")
            } catch {
                #expect(error.code == .missingHeader, "\(name)")
                #expect(error.header == missing, "\(name)")
            }
        }
    }

    // MARK: Infrahub

    @Test func infrahubVectors() throws {
        let file = try Self.vectors("infrahub-webhook")
        let vectors = try #require(file["vectors"]?.arrayValue)
        #expect(vectors.count == 4)
        for vector in vectors {
            let name = try #require(vector["name"]?.stringValue)
            let sharedKey = try #require(vector["shared_key"]?.stringValue)
            let id = try #require(vector["msg_id"]?.stringValue)
            let timestamp = try #require(vector["timestamp"]?.stringValue)
            let signed = Array(try #require(vector["signed_payload"]?.stringValue).utf8)
            let key = try WebhookSigningKey(mode: .infrahub, secret: sharedKey)
            #expect(key.bytes == Array(sharedKey.utf8))
            let signer = HMACBatchSigner(keys: [key])
            let value = signer.signature(
                keyIndex: 0,
                webhookID: id,
                timestampSeconds: try #require(UInt64(timestamp)),
                body: signed
            ).description
            let verifier = try WebhookVerifier(infrahubSharedKey: sharedKey)
            if let content = vector["signed_content"]?.stringValue {
                #expect(
                    WebhookSignedContent.bytes(webhookID: id, timestamp: timestamp, body: signed) == Array(content.utf8)
                )
            }
            if let headers = vector["expected_headers"]?.objectValue {
                #expect(value == headers["webhook-signature"]?.stringValue, "\(name)")
                #expect(headers["webhook-id"]?.stringValue == id)
                #expect(headers["webhook-timestamp"]?.stringValue == timestamp)
                try verifier.verify(
                    webhookID: id,
                    timestamp: timestamp,
                    signature: value,
                    body: signed,
                    nowSeconds: Int64(timestamp)! + 10
                )
            }
            if let expected = vector["expected_signature"]?.stringValue {
                #expect(value == expected, "\(name)")
            }
            if let sent = vector["signature_infrahub_sends"]?.stringValue {
                // The non-ASCII quirk: Infrahub signs the ensure_ascii=True text and sends the UTF-8 text.
                let body = Array(try #require(vector["http_body"]?.stringValue).utf8)
                #expect(value == sent, "\(name): what Infrahub signs")
                #expect(InfrahubSignedPayload.asciiEscaped(body) == signed)
                let overBody = signer.signature(
                    keyIndex: 0,
                    webhookID: id,
                    timestampSeconds: UInt64(timestamp)!,
                    body: body
                )
                #expect(overBody.description == vector["signature_over_raw_body"]?.stringValue, "\(name): raw body")
                let now = Int64(timestamp)!
                // Infrahub's verifier accepts both: Infrahub's own deliveries and Sluice's (bytes sent).
                for signature in [sent, overBody.description] {
                    try verifier.verify(
                        webhookID: id,
                        timestamp: timestamp,
                        signature: signature,
                        body: body,
                        nowSeconds: now
                    )
                }
                // A strict verifier over the raw body rejects what Infrahub sends.
                let strict = WebhookVerifier(keys: [key])
                #expect(throws: WebhookVerificationError.self) {
                    try strict.verify(webhookID: id, timestamp: timestamp, signature: sent, body: body, nowSeconds: now)
                }
            }
        }
    }

    // MARK: GitHub

    @Test func gitHubVectors() throws {
        let file = try Self.vectors("github-signature")
        let vectors = try #require(file["vectors"]?.arrayValue)
        #expect(vectors.count == 3)
        for vector in vectors {
            let name = try #require(vector["name"]?.stringValue)
            let verifier = GitHubSignatureVerifier(secret: try #require(vector["secret"]?.stringValue))
            let body: [UInt8]
            if let payload = vector["payload"]?.stringValue {
                body = Array(payload.utf8)
            } else {
                // Relative to the vectors' folder, as in ../shared/fixtures.
                let relative = try #require(vector["payload_file"]?.stringValue)
                body = try readRepositoryFile("fixtures/github-signature/" + relative)
                #expect(body.count == vector["payload_bytes"]?.int64Value.map { Int($0) })
            }
            if let hex = vector["expected_hex"]?.stringValue {
                #expect(verifier.signature256(body: body) == "sha256=" + hex, "\(name)")
            }
            if let header = vector["expected_header_X-Hub-Signature-256"]?.stringValue {
                #expect(verifier.signature256(body: body) == header, "\(name)")
                try verifier.verify(signature256: header, body: body)
                try verifier.verify(signature256: header.uppercased().replacingPrefix("SHA256=", "sha256="), body: body)
                var wrong = Array(header.utf8)
                wrong[wrong.count - 1] =
                    wrong[wrong.count - 1] == UInt8(ascii: "0") ? UInt8(ascii: "1") : UInt8(ascii: "0")
                #expect(throws: WebhookVerificationError.self) {
                    try verifier.verify(signature256: String(decoding: wrong, as: UTF8.self), body: body)
                }
                #expect(throws: WebhookVerificationError.self) {
                    try verifier.verify(signature256: String(header.dropFirst("sha256=".count)), body: body)
                }
                #expect(throws: WebhookVerificationError.self) { try verifier.verify(signature256: nil, body: body) }
            }
            if let header = vector["expected_header_X-Hub-Signature"]?.stringValue {
                try verifier.verify(legacySignature: header, body: body)
                #expect(throws: WebhookVerificationError.self) {
                    try verifier.verify(legacySignature: header, body: body + [0x0A])
                }
            }
        }
    }
}

extension String {
    fileprivate func replacingPrefix(_ prefix: String, _ replacement: String) -> String {
        hasPrefix(prefix) ? replacement + dropFirst(prefix.count) : self
    }
}
