import SluiceCore
import SluiceTestSupport
import Testing

@Suite struct JSONTests {
    @Test(arguments: [
        #"{}"#, #"[]"#, #"0"#, #"-0.5e+10"#, #""\u00e9\ud83d\ude00\/""#, #" {"a" : [ true , false , null ] } "#,
        "\"caf\u{e9} \u{1F600}\"",
    ])
    func acceptsValidJSON(_ text: String) throws {
        _ = try JSONValue.parse(text)
    }

    @Test(arguments: [
        (#"{"a":1,}"#, JSONError.Code.unexpectedByte), (#"[1 2]"#, .unexpectedByte), (#"01"#, .invalidNumber),
        (#"1."#, .invalidNumber), (#"-"#, .invalidNumber), (#""\x""#, .invalidEscape), (#""\u12""#, .invalidEscape),
        (#""\udc00""#, .unpairedSurrogate), (#""\ud800x""#, .unpairedSurrogate), ("\"a\u{1}\"", .controlCharacter),
        (#"tru"#, .invalidLiteral), (#"{"a":1,"a":2}"#, .duplicateKey), (#"{} {}"#, .trailingBytes),
        (#""abc"#, .invalidString), (#""#, .unexpectedEnd),
    ])
    func rejectsInvalidJSON(_ text: String, _ code: JSONError.Code) {
        #expect(throws: JSONError.self) { try JSONValue.parse(text) }
        do {
            _ = try JSONValue.parse(text)
        } catch {
            #expect(error.code == code, "\(text): \(error)")
        }
    }

    @Test(
        arguments: [
            [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82], [0x80], [0xFF],
            [0xF0, 0x80, 0x80, 0x80],
        ] as [[UInt8]]
    )
    func rejectsInvalidUTF8(_ sequence: [UInt8]) {
        let bytes = [UInt8(ascii: "\"")] + sequence + [UInt8(ascii: "\"")]
        do {
            _ = try JSONValue.parse(bytes)
            Issue.record("accepted \(sequence)")
        } catch {
            #expect(error.code == .invalidUTF8)
        }
    }

    @Test func encodesLikePythonEnsureAsciiFalse() {
        let value: JSONValue = ["s": .string("é\"\\\n\u{1}\u{7F}\u{2028}/"), "n": .number("1.50"), "b": true, "z": nil]
        #expect(
            value.encodedString() == "{\"s\":\"é\\\"\\\\\\n\\u0001\u{7F}\u{2028}/\",\"n\":1.50,\"b\":true,\"z\":null}"
        )
    }

    @Test func jsonbOrderIsShortestKeyFirstThenBytewise() {
        let value: JSONValue = ["node_id": 1, "kind": 2, "fields": 3, "action": 4, "changelog": ["b": 1, "a": 2]]
        #expect(
            value.encodedString(keyOrder: .jsonb)
                == #"{"kind":2,"action":4,"fields":3,"node_id":1,"changelog":{"a":2,"b":1}}"#
        )
        #expect(
            value.encodedString(keyOrder: .sorted)
                == #"{"action":4,"changelog":{"a":2,"b":1},"fields":3,"kind":2,"node_id":1}"#
        )
    }

    @Test func compactionKeepsStringsIntact() {
        let source = Array(#" { "a b" : [ 1 , "x \" y" ] ,"c":"\\" } "#.utf8)
        #expect(JSONCompactor.compacted(source).utf8String == #"{"a b":[1,"x \" y"],"c":"\\"}"#)
    }

    @Test func parseThenEncodeRoundTripsGeneratedValues() throws {
        let seed = testSeed()
        var random = SplitMix64(seed: seed)
        func make(_ depth: Int) -> JSONValue {
            switch random.next(below: depth > 3 ? 4 : 6) {
            case 0: return .null
            case 1: return .bool(random.chance(50))
            case 2: return .integer(Int(truncatingIfNeeded: random.next()) >> random.next(below: 60))
            case 3:
                return .string(
                    String(
                        (0..<random.next(below: 8)).map { _ in random.pick(["a", "é", "\"", "\n", "😀", "\\"]) }.joined()
                    )
                )
            case 4: return .array((0..<random.next(below: 4)).map { _ in make(depth + 1) })
            default:
                return .object(
                    JSONObject((0..<random.next(below: 4)).map { JSONObject.Member("k\($0)", make(depth + 1)) })
                )
            }
        }
        for _ in 0..<500 {
            let value = make(0)
            #expect(try JSONValue.parse(value.encoded()) == value, "seed \(seed)")
        }
    }
}

@Suite struct TimestampTests {
    @Test(arguments: [
        (
            "2025-03-13T16:44:32.321142Z", "2025-03-13T16:44:32.321142Z", "2025-03-13 16:44:32.321142+00:00",
            "2025-03-13T16:44:32.321142+00:00"
        ),
        ("2025-03-13T16:44:32Z", "2025-03-13T16:44:32Z", "2025-03-13 16:44:32+00:00", "2025-03-13T16:44:32+00:00"),
        (
            "2025-03-13 18:44:32.5+02:00", "2025-03-13T16:44:32.500000Z", "2025-03-13 16:44:32.500000+00:00",
            "2025-03-13T16:44:32.500000+00:00"
        ),
        (
            "2024-02-29T00:00:00.123456789z", "2024-02-29T00:00:00.123456Z", "2024-02-29 00:00:00.123456+00:00",
            "2024-02-29T00:00:00.123456+00:00"
        ),
        (  // every field zero-padded, digits written in place
            "0042-01-05T03:04:05.000007Z", "0042-01-05T03:04:05.000007Z", "0042-01-05 03:04:05.000007+00:00",
            "0042-01-05T03:04:05.000007+00:00"
        ),
        (
            "1969-12-31T23:59:59.999999Z", "1969-12-31T23:59:59.999999Z", "1969-12-31 23:59:59.999999+00:00",
            "1969-12-31T23:59:59.999999+00:00"
        ),
    ])
    func parsesAndFormats(_ input: String, _ prefect: String, _ python: String, _ iso: String) throws {
        let timestamp = try #require(Timestamp.parse(input))
        #expect(timestamp.string(.prefect) == prefect)
        #expect(timestamp.string(.pythonString) == python)
        #expect(timestamp.string(.isoformat) == iso)
    }

    @Test(arguments: [
        "2025-02-29T00:00:00Z", "2025-13-01T00:00:00Z", "2025-01-01T24:00:00Z", "2025-01-01T00:00:00",
        "2025-01-01", "2025-01-01T00:00:00.Z", "2025-01-01T00:00:00+0200", "x",
    ])
    func rejects(_ input: String) {
        #expect(Timestamp.parse(input) == nil)
    }

    @Test func roundTripsRandomInstants() {
        let seed = testSeed()
        var random = SplitMix64(seed: seed)
        for _ in 0..<2000 {
            let micros = Int64(truncatingIfNeeded: random.next() % 8_000_000_000_000_000) - 2_000_000_000_000_000
            let timestamp = Timestamp(microsecondsSinceEpoch: micros)
            #expect(Timestamp.parse(timestamp.string(.prefect)) == timestamp, "seed \(seed)")
            #expect(Timestamp.parse(timestamp.string(.pythonString)) == timestamp, "seed \(seed)")
        }
    }
}

@Suite struct SymbolTableTests {
    @Test func matchesADictionaryModel() {
        let seed = testSeed()
        var random = SplitMix64(seed: seed)
        let table = SymbolTable()
        var model: [String: Symbol] = [:]
        for _ in 0..<20_000 {
            let text = "label.\(random.next(below: 3000))" + String(repeating: "x", count: random.next(below: 20))
            let symbol = table.intern(text)!
            if let known = model[text] { #expect(known == symbol, "seed \(seed)") } else { model[text] = symbol }
            #expect(table.string(symbol) == text)
        }
        #expect(table.count == model.count + Symbol.wellKnownCount)
        #expect(table.lookup("never-interned") == nil)
    }

    @Test func wellKnownSymbolsAreConstants() {
        let table = SymbolTable()
        #expect(table.lookup("prefect.resource.id") == .prefectResourceID)
        #expect(table.lookup("infrahub.branch") == .roleBranch)
        #expect(table.lookup("-global-") == .globalBranch)
    }

    @Test func fullTableReturnsNil() {
        let table = SymbolTable(symbolCountMax: Symbol.wellKnownCount + 2)
        #expect(table.intern("a") != nil)
        #expect(table.intern("b") != nil)
        #expect(table.intern("c") == nil)
        #expect(table.intern("a") != nil)
    }
}

@Suite struct EventIDTests {
    @Test func parsesAndFormats() throws {
        let id = try #require(EventID.parse("BF569DDC-2a30-4491-82f1-0689f6cdb5e1"))
        #expect(id.description == "bf569ddc-2a30-4491-82f1-0689f6cdb5e1")
        #expect(EventID.parse("bf569ddc2a30-4491-82f1-0689f6cdb5e1-") == nil)
        #expect(EventID.parse("bf569ddc-2a30-4491-82f1-0689f6cdb5eg") == nil)
        var random = SplitMix64(seed: 1)
        let generated = random.nextEventID().description
        #expect(Array(generated)[14] == "4")
        #expect(EventID.parse(generated)?.description == generated)
    }
}
