internal import CYaml

/// Bounds a YAML text's nesting depth and alias expansion before anything recursive reads it.
///
/// Yams composes a node tree recursively (a document nested 10,000 levels deep overflows the stack),
/// and a configuration is read with its aliases expanded (nine aliases of nine aliases of … — the
/// "billion laughs" — expand to hundreds of millions of nodes). This check walks libyaml's event
/// stream, which is iterative, keeping only the open collections and, per anchor, the size and height
/// it expands to; it stops at the first bound passed, with the position. A syntax error stops it too
/// and is left to the composer, which reports it.
enum YAMLBounds {
    /// Deepest nesting of mappings and sequences, aliases expanded (as ``JSONValue/parse(_:depthMax:)``
    /// for JSON configurations).
    static let depthMax = 128
    /// Nodes that aliases may add when expanded, over the whole document.
    static let aliasExpandedNodeCountMax = 100_000

    struct Violation: Error, Equatable {
        var line: Int
        var column: Int
        var message: String
    }

    private struct OpenCollection {
        var anchor: String?
        /// Nodes under it so far, itself included, aliases expanded.
        var size = 1
        /// 1 + the height of its highest child so far, aliases expanded.
        var height = 1
    }

    /// The first bound `bytes` passes, or `nil`.
    static func check(_ bytes: [UInt8]) -> Violation? {
        let parser = UnsafeMutablePointer<yaml_parser_t>.allocate(capacity: 1)
        let event = UnsafeMutablePointer<yaml_event_t>.allocate(capacity: 1)
        defer {
            unsafe parser.deallocate()
            unsafe event.deallocate()
        }
        guard unsafe yaml_parser_initialize(parser) == 1 else { return nil }  // no memory: the composer reports it
        defer { unsafe yaml_parser_delete(parser) }
        return unsafe bytes.withUnsafeBufferPointer { buffer -> Violation? in
            unsafe yaml_parser_set_input_string(parser, buffer.baseAddress, buffer.count)
            var sizeOfAnchor: [String: Int] = [:]
            var heightOfAnchor: [String: Int] = [:]
            var open: [OpenCollection] = []
            var aliasExpandedCount = 0
            while true {
                guard unsafe yaml_parser_parse(parser, event) == 1 else { return nil }
                defer { unsafe yaml_event_delete(event) }
                let line = Int(unsafe event.pointee.start_mark.line) + 1
                let column = Int(unsafe event.pointee.start_mark.column) + 1
                // The node that just ended (size, height, anchor), to add to its parent.
                var finished: (size: Int, height: Int, anchor: String?)?
                switch unsafe event.pointee.type {
                case YAML_STREAM_END_EVENT:
                    return nil
                case YAML_SEQUENCE_START_EVENT:
                    open.append(OpenCollection(anchor: unsafe anchorName(event.pointee.data.sequence_start.anchor)))
                case YAML_MAPPING_START_EVENT:
                    open.append(OpenCollection(anchor: unsafe anchorName(event.pointee.data.mapping_start.anchor)))
                case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                    guard let closed = open.popLast() else { return nil }
                    finished = (closed.size, closed.height, closed.anchor)
                case YAML_SCALAR_EVENT:
                    finished = (1, 0, unsafe anchorName(event.pointee.data.scalar.anchor))
                case YAML_ALIAS_EVENT:
                    let name = unsafe anchorName(event.pointee.data.alias.anchor) ?? ""
                    let size = sizeOfAnchor[name] ?? 1
                    let height = heightOfAnchor[name] ?? 0
                    aliasExpandedCount += size
                    if aliasExpandedCount > aliasExpandedNodeCountMax {
                        return Violation(
                            line: line,
                            column: column,
                            message:
                                "aliases expand to more than \(aliasExpandedNodeCountMax) nodes (at alias *\(name)); "
                                + "write the repeated parts out, or use fewer aliases of aliases"
                        )
                    }
                    if open.count + height > depthMax {
                        return Violation(
                            line: line,
                            column: column,
                            message: "alias *\(name) nests deeper than \(depthMax) levels when expanded"
                        )
                    }
                    finished = (size, height, nil)
                default:
                    continue
                }
                if open.count > depthMax {
                    return Violation(
                        line: line,
                        column: column,
                        message: "nested deeper than \(depthMax) levels of mappings and sequences"
                    )
                }
                if let finished {
                    if let anchor = finished.anchor {
                        sizeOfAnchor[anchor] = finished.size
                        heightOfAnchor[anchor] = finished.height
                    }
                    if !open.isEmpty {
                        open[open.count - 1].size += finished.size
                        open[open.count - 1].height = max(open[open.count - 1].height, finished.height + 1)
                    }
                }
            }
        }
    }

    private static func anchorName(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        guard let pointer = unsafe pointer else { return nil }
        return unsafe String(cString: pointer)
    }
}
