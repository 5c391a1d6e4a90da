import ArgumentParser
import Sluice

extension Events {
    /// `sluice events query`: an ``EventQuery`` over a log directory (docs/queries.md).
    struct Query: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the stored events of a log that match the filters, as NDJSON (or their count).",
            discussion: """
                Filters follow Infrahub's InfrahubEvent field (docs/queries.md): conditions are ANDed, repeated \
                values of one option are ORed. Without --event-type only infrahub.* events match. Each line is \
                the event as stored; with --cursor the log sequence of the last event printed goes to standard \
                error, to resume with --after. Exit 0 on success, 2 on bad usage, 3 when the log cannot be read.
                """
        )

        @Option(help: "The log directory.")
        var log: String
        @Option(help: "Event id (UUID); repeat for OR.")
        var id: [String] = []
        @Option(help: "Exact event name (Infrahub's event_type); repeat for OR.")
        var eventType: [String] = []
        @Option(help: "Event-name glob (* ? [..]); repeat for OR.")
        var name: [String] = []
        @Option(help: "Primary node kind (infrahub.node.kind); repeat for OR.")
        var kind: [String] = []
        @Option(help: "Primary node id (a trailing * is a prefix); repeat for OR.")
        var primaryNode: [String] = []
        @Option(help: "Related node, group member or ancestor id; repeat for OR.")
        var relatedNode: [String] = []
        @Option(help: "Parent event id; repeat for OR.")
        var parent: [String] = []
        @Option(
            help: ArgumentHelp(
                "Related-resource label patterns as a JSON object, e.g. '{\"prefect.resource.role\":\"infrahub.branch\",\"infrahub.resource.label\":\"feat-*\"}' (a trigger's match_related entry); repeat for AND.",
                valueName: "json"
            )
        )
        var relatedLabels: [String] = []
        @Option(help: "Branch name; repeat for OR.")
        var branch: [String] = []
        @Option(help: "Account id; repeat for OR.")
        var account: [String] = []
        @Option(help: "Event level (0 for top-level events).")
        var level: Int?
        @Option(help: "true or false.")
        var hasChildren: String?
        @Option(help: "Only events that occurred at or after this time (RFC 3339).")
        var since: String?
        @Option(help: "Only events that occurred at or before this time (RFC 3339).")
        var until: String?
        @Option(help: "desc (newest first, Infrahub's default) or asc.")
        var order = "desc"
        @Option(help: "Print at most this many events (default: all).")
        var limit: Int?
        @Option(help: "Skip this many matching events first.")
        var offset = 0
        @Option(help: "Resume after this log sequence (the last one printed, in the same order).")
        var after: UInt64?
        @Flag(help: "Print the number of matching events instead of the events (offset and limit do not apply).")
        var count = false
        @Flag(help: "Print the sequence of the last event printed to standard error as 'cursor: N'.")
        var cursor = false

        func validate() throws {
            try checkRange(limit, 0...EventQuery.pagingMax, "--limit")
            try checkRange(offset, 0...EventQuery.pagingMax, "--offset")
            try checkRange(level, 0...Int(Int32.max), "--level")
            _ = try query()
        }

        func query() throws -> EventQuery {
            var query = EventQuery()
            query.ids = try id.map { text in
                guard let parsed = EventID.parse(text) else {
                    throw ValidationError("--id '\(text)' is not a UUID (8-4-4-4-12 hex digits)")
                }
                return parsed
            }
            query.eventTypes = eventType
            query.names = name.map(Glob.init)
            query.nodeKinds = kind
            query.primaryNodeIDs = primaryNode
            query.relatedNodeIDs = relatedNode
            query.parentIDs = parent
            query.branches = branch
            query.relatedLabels = try relatedLabels.map { text in
                do throws(EventQueryError) {
                    return try EventQueryParameters.specification("--related-labels", text)
                } catch {
                    throw ValidationError("\(error)")
                }
            }
            query.accountIDs = account
            query.level = level
            if let hasChildren {
                guard hasChildren == "true" || hasChildren == "false" else {
                    throw ValidationError("--has-children must be true or false, not '\(hasChildren)'")
                }
                query.hasChildren = hasChildren == "true"
            }
            query.since = try since.map { try timestamp($0, "--since") }
            query.until = try until.map { try timestamp($0, "--until") }
            guard let parsedOrder = EventQuery.Order(rawValue: order.lowercased()) else {
                throw ValidationError("--order must be asc or desc, not '\(order)'")
            }
            query.order = parsedOrder
            query.limit = limit
            query.offset = offset
            query.afterSequence = after
            do throws(EventQueryError) {
                try query.validate()
            } catch {
                throw ValidationError("--\(String(error.field.map { $0 == "_" ? "-" : $0 })): \(error.message)")
            }
            return query
        }

        private func timestamp(_ text: String, _ option: String) throws -> Timestamp {
            guard let parsed = Timestamp.parse(text) else {
                throw ValidationError("\(option) '\(text)' is not an RFC 3339 date-time")
            }
            return parsed
        }

        func run() throws {
            let query = try query()
            if count {
                do {
                    print(try EventQueryEngine.count(directory: log, query: query).matchedCount)
                } catch {
                    printError("error: \(error)")
                    throw ExitStatus.ioFailure
                }
                return
            }
            let output = try CommandOutput()
            var failure: (any Error)?
            var outcome: EventQueryOutcome?
            do {
                outcome = try EventQueryEngine.run(directory: log, query: query) { event in
                    output.write { writer throws(SystemCallError) in
                        try writer.write(event.bytes)
                        try writer.write("\n")
                    }
                }
            } catch {
                failure = error
            }
            try output.finish(after: failure, status: ExitStatus.ioFailure)
            if cursor, let last = outcome?.lastSequence { printError("cursor: \(last)") }
        }
    }
}
