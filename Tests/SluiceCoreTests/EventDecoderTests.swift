import SluiceCore
import SluiceTestSupport
import Testing

@Suite struct EventDecoderTests {
    /// The spec §a.3 example (ids completed, comments removed).
    static let specExample = #"""
        {"occurred":"2025-03-13T16:31:14.566032Z","event":"infrahub.node.created","resource":{"prefect.resource.id":"infrahub.node.182c69ca-75cc-dff2-39ba-c51db89f91bd","infrahub.node.kind":"OrganizationProvider","infrahub.node.id":"182c69ca-75cc-dff2-39ba-c51db89f91bd","infrahub.node.action":"created","infrahub.node.root_id":"182c69ca-75cc-dff2-39ba-c51db89f91bd","infrahub.branch.name":"new-provider","infrahub.node.origin":"live"},"related":[{"prefect.resource.id":"1.11.9","prefect.resource.role":"infrahub.version"},{"prefect.resource.id":"bf569ddc-2a30-4491-82f1-0689f6cdb5e1","prefect.resource.role":"infrahub.event","infrahub.event.has_children":"true","infrahub.event.level":"2"},{"prefect.resource.id":"infrahub.account.182c6918-8880-5252-3611-c51ae7e0d6a5","prefect.resource.role":"infrahub.account","infrahub.resource.id":"182c6918-8880-5252-3611-c51ae7e0d6a5"},{"prefect.resource.id":"infrahub.branch.18c0f7a2-7b3f-7ee3-1351-1065a393b80c","prefect.resource.role":"infrahub.branch","infrahub.resource.id":"18c0f7a2-7b3f-7ee3-1351-1065a393b80c","infrahub.resource.label":"new-provider"},{"prefect.resource.id":"bf569ddc-2a30-4491-82f1-0689f6cdb5e1","prefect.resource.role":"infrahub.child_event","infrahub.event_parent.id":"aaaaaaaa-2a30-4491-82f1-0689f6cdb5e1"},{"prefect.resource.id":"aaaaaaaa-2a30-4491-82f1-0689f6cdb5e1","prefect.resource.role":"infrahub.ancestor_event","infrahub.ancestor_event.name":"infrahub.branch.merged"},{"prefect.resource.id":"182c69ca-75cc-dff2-39ba-c51db89f91bd","prefect.resource.role":"infrahub.related.node","infrahub.node.kind":"OrganizationProvider"}],"payload":{"data":{"kind":"OrganizationProvider","node_id":"182c69ca-75cc-dff2-39ba-c51db89f91bd","action":"created","changelog":{},"fields":["name"]},"context":{"branch":{"name":"new-provider","id":"18c0f7a2-7b3f-7ee3-1351-1065a393b80c"},"account_id":"182c6918-8880-5252-3611-c51ae7e0d6a5","priority":null,"parent_event":null}},"id":"bf569ddc-2a30-4491-82f1-0689f6cdb5e1","follows":null}
        """#

    @Test func decodesTheSpecExampleHeader() throws {
        var decoder = EventDecoder()
        let event = try decoder.decode(Array(Self.specExample.utf8))
        let header = event.header
        let symbols = decoder.symbols
        #expect(symbols.string(header.name) == "infrahub.node.created")
        #expect(header.id.description == "bf569ddc-2a30-4491-82f1-0689f6cdb5e1")
        #expect(header.occurred.string(.prefect) == "2025-03-13T16:31:14.566032Z")
        #expect(symbols.string(header.nodeKind) == "OrganizationProvider")
        #expect(symbols.string(header.branch) == "new-provider")
        #expect(symbols.string(header.account) == "182c6918-8880-5252-3611-c51ae7e0d6a5")
        #expect(header.level == 2)
        #expect(header.hasChildren)
        #expect(header.parent?.description == "aaaaaaaa-2a30-4491-82f1-0689f6cdb5e1")
        #expect(header.resources.count == 8)
        #expect(header.resources[0].role == .none)
        #expect(header.resources[1].role == .roleVersion)
        #expect(header.resources[4].role == .roleBranch)
        #expect(symbols.string(header.resources[7].role) == "infrahub.related.node")
        #expect(event.ancestors().map(\.name) == ["infrahub.branch.merged"])
        let data = try #require(header.payloadDataRange)
        #expect(Array(event.bytes[data]).utf8String.hasPrefix(#"{"kind":"OrganizationProvider""#))
        #expect(event.labelValue(.infrahubNodeID, of: header.primary) == "182c69ca-75cc-dff2-39ba-c51db89f91bd")
    }

    @Test func primaryResourceIsFirstEvenWhenRelatedComesFirst() throws {
        let text =
            #"{"related":[{"prefect.resource.id":"b","prefect.resource.role":"infrahub.branch","infrahub.resource.label":"main"}],"event":"x","occurred":"2025-01-01T00:00:00Z","id":"bf569ddc-2a30-4491-82f1-0689f6cdb5e1","resource":{"prefect.resource.id":"p","infrahub.node.kind":"K"}}"#
        var decoder = EventDecoder()
        let event = try decoder.decode(Array(text.utf8))
        #expect(event.header.resources.count == 2)
        #expect(event.header.resources[0].role == .none)
        #expect(event.labelValue(.prefectResourceID, of: event.header.primary) == "p")
        #expect(decoder.symbols.string(event.header.branch) == "main")
        #expect(decoder.symbols.string(event.header.nodeKind) == "K")
    }

    static let base =
        #"{"event":"x","occurred":"2025-01-01T00:00:00Z","id":"bf569ddc-2a30-4491-82f1-0689f6cdb5e1","resource":{"prefect.resource.id":"p"}"#

    /// Each bad event is rejected with the expected code, field path and byte offset.
    @Test(arguments: [
        (
            #"{"occurred":"2025-01-01T00:00:00Z","id":"bf569ddc-2a30-4491-82f1-0689f6cdb5e1","resource":{"prefect.resource.id":"p"}}"#,
            EventDecodingError.Code.missingField, "event", nil as Int?
        ),
        (
            #"{"event":"x","id":"bf569ddc-2a30-4491-82f1-0689f6cdb5e1","resource":{"prefect.resource.id":"p"},"occurred":"2025-13-01T00:00:00Z"}"#,
            .invalidField, "occurred", 107
        ),
        (
            base + #","related":[{"prefect.resource.id":"r"}]}"#, .missingField,
            #"related[0]["prefect.resource.role"]"#, 141
        ),
        (
            base + #","related":[{"prefect.resource.id":"r","prefect.resource.role":""}]}"#, .invalidField,
            #"related[0]["prefect.resource.role"]"#, 192
        ),
        (
            #"{"event":"x","occurred":"2025-01-01T00:00:00Z","id":"bf569ddc-2a30-4491-82f1-0689f6cdb5e1","resource":{"prefect.resource.id":""}}"#,
            .invalidField, #"resource["prefect.resource.id"]"#, 125
        ),
        (
            #"{"event":"x","occurred":"2025-01-01T00:00:00Z","id":"bf569ddc-2a30-4491-82f1-0689f6cdb5e1","resource":{"k":"v"}}"#,
            .missingField, #"resource["prefect.resource.id"]"#, 102
        ),
        (base + #","resource":{"prefect.resource.id":"q"}}"#, .duplicateField, "resource", 130),
        (
            #"{"event":"x","occurred":"2025-01-01T00:00:00Z","id":"bf569ddc-2a30-4491-82f1-0689f6cdb5e1","resource":{"prefect.resource.id":"p","n":5}}"#,
            .invalidField, #"resource["n"]"#, 133
        ),
        (base + #","payload":{"data":{"a":[1,2,}}}"#, .invalidJSON, "payload.data", 158),
        (base + #","payload":{"data":"\ud800"}}"#, .invalidJSON, "payload.data", 149),
        (base + #","payload":[]}"#, .invalidField, "payload", 140),
        (base + #","id":"not-a-uuid"}"#, .duplicateField, "id", 130),
        (
            #"{"event":"x","occurred":"2025-01-01T00:00:00Z","id":"not-a-uuid","resource":{"prefect.resource.id":"p"}}"#,
            .invalidField, "id", 52
        ),
        (base + #"} trailing"#, .invalidJSON, "", 131),
        (base + #","related":null}"#, .invalidField, "related", 140),
        (
            #"{"event":"","occurred":"2025-01-01T00:00:00Z","id":"bf569ddc-2a30-4491-82f1-0689f6cdb5e1","resource":{"prefect.resource.id":"p"}}"#,
            .invalidField, "event", 9
        ),
    ])
    func rejects(text: String, code: EventDecodingError.Code, fieldPath: String, byteOffset: Int?) {
        var decoder = EventDecoder()
        do {
            _ = try decoder.decode(Array(text.utf8))
            Issue.record("accepted: \(text)")
        } catch {
            #expect(error.code == code, "\(error)")
            #expect(error.fieldPath == fieldPath, "\(error)")
            if let byteOffset { #expect(error.byteOffset == byteOffset, "\(error)") }
        }
    }

    @Test func enforcesLimits() throws {
        var limits = EventLimits()
        limits.relatedResourceCountMax = 2
        limits.labelsPerResourceCountMax = 3
        limits.eventNameByteCountMax = 4
        var decoder = EventDecoder(limits: limits)
        let related = (0..<3).map { #"{"prefect.resource.id":"r\#($0)","prefect.resource.role":"x"}"# }.joined(
            separator: ","
        )
        let tooManyRelated =
            #"{"event":"x","occurred":"2025-01-01T00:00:00Z","id":"bf569ddc-2a30-4491-82f1-0689f6cdb5e1","resource":{"prefect.resource.id":"p"},"related":[\#(related)]}"#
        #expect(throws: EventDecodingError.self) { try decoder.decode(Array(tooManyRelated.utf8)) }
        do {
            _ = try decoder.decode(Array(tooManyRelated.utf8))
        } catch {
            #expect(error.code == .limitExceeded)
            #expect(error.fieldPath == "related")
        }
        let tooManyLabels =
            #"{"event":"x","occurred":"2025-01-01T00:00:00Z","id":"bf569ddc-2a30-4491-82f1-0689f6cdb5e1","resource":{"prefect.resource.id":"p","a":"1","b":"2","c":"3"}}"#
        do {
            _ = try decoder.decode(Array(tooManyLabels.utf8))
            Issue.record("accepted too many labels")
        } catch {
            #expect(error.code == .limitExceeded)
        }
        let longName =
            #"{"event":"abcde","occurred":"2025-01-01T00:00:00Z","id":"bf569ddc-2a30-4491-82f1-0689f6cdb5e1","resource":{"prefect.resource.id":"p"}}"#
        do {
            _ = try decoder.decode(Array(longName.utf8))
            Issue.record("accepted long name")
        } catch {
            #expect(error.code == .limitExceeded)
            #expect(error.fieldPath == "event")
        }
        var small = EventLimits()
        small.eventByteCountMax = 10
        var smallDecoder = EventDecoder(limits: small)
        #expect(throws: EventDecodingError.self) { try smallDecoder.decode(Array(Self.specExample.utf8)) }
    }

    @Test func deepNestingIsAnErrorNotACrash() {
        let deep = String(repeating: "[", count: 100_000)
        let text = Self.base + #","payload":{"data":\#(deep)}}"#
        var decoder = EventDecoder()
        do {
            _ = try decoder.decode(Array(text.utf8))
            Issue.record("accepted")
        } catch {
            #expect(error.code == .invalidJSON)
            #expect(error.message.contains("nesting"))
        }
    }

    /// Every truncation of a valid event is rejected with an error inside the input (never a crash).
    @Test func everyTruncationIsRejected() {
        let bytes = Array(Self.specExample.utf8)
        var decoder = EventDecoder()
        for count in 0..<bytes.count {
            do {
                _ = try decoder.decode(Array(bytes[0..<count]))
                Issue.record("accepted a truncation at \(count)")
            } catch {
                #expect(error.byteOffset <= count)
            }
        }
    }

    /// Random byte flips either decode or fail with an in-bounds offset; they never trap.
    @Test func randomCorruptionNeverTraps() {
        let seed = testSeed()
        var random = SplitMix64(seed: seed)
        let original = Array(Self.specExample.utf8)
        var decoder = EventDecoder()
        for _ in 0..<3000 {
            var bytes = original
            for _ in 0..<(1 + random.next(below: 3)) {
                bytes[random.next(below: bytes.count)] = UInt8(truncatingIfNeeded: random.next())
            }
            do {
                _ = try decoder.decode(bytes)
            } catch {
                #expect(error.byteOffset >= 0 && error.byteOffset <= bytes.count, "seed \(seed)")
            }
        }
    }
}
