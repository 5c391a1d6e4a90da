/// Calls: the sandbox-safe methods of dictionaries, strings and lists, `loop.cycle`, and the globals
/// `range` (Prefect's, at most 100 items) and `dict`.
enum TemplateCalls {
    static func call(
        _ function: TemplateValue,
        _ positional: [TemplateValue],
        _ keywords: [(String, TemplateValue)]
    ) throws(TemplateRuntimeError) -> TemplateValue {
        switch function {
        case .function(let name):
            return try global(name, positional, keywords)
        case .method(let receiver, let name):
            return try method(receiver, name, positional, keywords)
        case .undefined(let hint):
            throw TemplateRuntimeError(hint)
        default:
            throw TemplateRuntimeError("'\(function.typeName)' object is not callable")
        }
    }

    private static func global(
        _ name: String,
        _ positional: [TemplateValue],
        _ keywords: [(String, TemplateValue)]
    ) throws(TemplateRuntimeError) -> TemplateValue {
        switch name {
        case "range":
            guard keywords.isEmpty else { throw TemplateRuntimeError("range() takes no keyword arguments") }
            var bounds: [Int] = []
            for argument in positional {
                guard let number = TemplateOperators.integer(argument) else {
                    throw TemplateRuntimeError("'\(argument.typeName)' object cannot be interpreted as an integer")
                }
                bounds.append(number)
            }
            let (start, stop, step): (Int, Int, Int)
            switch bounds.count {
            case 1: (start, stop, step) = (0, bounds[0], 1)
            case 2: (start, stop, step) = (bounds[0], bounds[1], 1)
            case 3: (start, stop, step) = (bounds[0], bounds[1], bounds[2])
            default: throw TemplateRuntimeError("range expected 1 to 3 arguments, got \(bounds.count)")
            }
            guard step != 0 else { throw TemplateRuntimeError("range() arg 3 must not be zero") }
            let span = step > 0 ? stop.subtractingReportingOverflow(start) : start.subtractingReportingOverflow(stop)
            guard !span.overflow else { throw TemplateRuntimeError("Range too big.") }
            let magnitude = step > 0 ? step : (step == Int.min ? Int.max : -step)
            let count = span.partialValue <= 0 ? 0 : (span.partialValue - 1) / magnitude + 1
            guard count <= TemplateInterpreter.rangeMax else {
                throw TemplateRuntimeError(
                    "Range too big. The sandbox blocks ranges larger than MAX_TEMPLATE_RANGE=\(TemplateInterpreter.rangeMax)."
                )
            }
            return .iterator((0..<count).map { .int(start + $0 * step) })
        case "dict":
            guard positional.isEmpty else {
                throw TemplateRuntimeError("dict() with positional arguments is not supported")
            }
            return .dict(keywords.map { TemplateEntry(key: $0.0, value: $0.1) })
        default:
            throw TemplateRuntimeError("the global '\(name)' is not supported")
        }
    }

    private static func method(
        _ receiver: TemplateValue,
        _ name: String,
        _ positional: [TemplateValue],
        _ keywords: [(String, TemplateValue)]
    ) throws(TemplateRuntimeError) -> TemplateValue {
        switch receiver.expanded {
        case .dict(let entries):
            switch name {
            case "get":
                let arguments = try TemplateArgumentList("get", positional, [], names: ["key", "default"])
                guard keywords.isEmpty else { throw TemplateRuntimeError("get() takes no keyword arguments") }
                guard let key = arguments[0] else {
                    throw TemplateRuntimeError("get expected at least 1 argument, got 0")
                }
                if case .string(let text) = key, let found = entries.first(where: { $0.key.pythonEquals(text) }) {
                    return found.value
                }
                return arguments[1] ?? .none
            case "items":
                try noArguments(name, positional, keywords)
                return .iterator(entries.map { .tuple([.string($0.key), $0.value]) })
            case "keys":
                try noArguments(name, positional, keywords)
                return .iterator(entries.map { .string($0.key) })
            case "values":
                try noArguments(name, positional, keywords)
                return .iterator(entries.map(\.value))
            case "copy":
                try noArguments(name, positional, keywords)
                return .dict(entries)
            default:
                break
            }
        case .string(let text):
            return try stringMethod(text, name, positional, keywords)
        case .list(let elements), .tuple(let elements):
            switch name {
            case "count":
                let arguments = try TemplateArgumentList(name, positional, keywords, names: ["value"])
                guard let value = arguments[0] else { throw TemplateRuntimeError("count() takes exactly one argument") }
                return .int(elements.filter { TemplateOperators.equals($0, value) }.count)
            case "index":
                let arguments = try TemplateArgumentList(name, positional, keywords, names: ["value"])
                guard let value = arguments[0] else { throw TemplateRuntimeError("index expected at least 1 argument") }
                guard let position = elements.firstIndex(where: { TemplateOperators.equals($0, value) }) else {
                    throw TemplateRuntimeError("value is not in list")
                }
                return .int(position)
            case "copy":
                try noArguments(name, positional, keywords)
                return .list(elements)
            default:
                break
            }
        case .loop(let loop):
            if name == "cycle" {
                guard !positional.isEmpty else { throw TemplateRuntimeError("no items for cycling given") }
                return positional[loop.index0 % positional.count]
            }
        default:
            break
        }
        throw TemplateRuntimeError("'\(receiver.typeName)' object has no method '\(name)'")
    }

    private static func noArguments(
        _ name: String,
        _ positional: [TemplateValue],
        _ keywords: [(String, TemplateValue)]
    ) throws(TemplateRuntimeError) {
        guard positional.isEmpty && keywords.isEmpty else {
            throw TemplateRuntimeError("\(name)() takes no arguments")
        }
    }

    private static func stringMethod(
        _ text: String,
        _ name: String,
        _ positional: [TemplateValue],
        _ keywords: [(String, TemplateValue)]
    ) throws(TemplateRuntimeError) -> TemplateValue {
        func argument(_ position: Int) throws(TemplateRuntimeError) -> String {
            guard position < positional.count, case .string(let value) = positional[position] else {
                throw TemplateRuntimeError("\(name)() argument \(position + 1) must be str")
            }
            return value
        }
        func optionalArgument(_ position: Int, _ keyword: String) throws(TemplateRuntimeError) -> String? {
            let value = position < positional.count ? positional[position] : keywords.first { $0.0 == keyword }?.1
            guard let value, !value.isNoneValue else { return nil }
            guard case .string(let string) = value else {
                throw TemplateRuntimeError("\(name)() \(keyword) must be str or None")
            }
            return string
        }
        func prefixes(_ position: Int) throws(TemplateRuntimeError) -> [String] {
            guard position < positional.count else {
                throw TemplateRuntimeError("\(name)() takes at least 1 argument (0 given)")
            }
            switch positional[position] {
            case .string(let value): return [value]
            case .tuple(let values):
                var strings: [String] = []
                for value in values {
                    guard case .string(let string) = value else {
                        throw TemplateRuntimeError("tuple for \(name) must only contain str")
                    }
                    strings.append(string)
                }
                return strings
            default:
                throw TemplateRuntimeError("\(name) first arg must be str or a tuple of str")
            }
        }
        switch name {
        case "lower": return .string(text.lowercased())
        case "upper": return .string(text.uppercased())
        case "strip": return .string(TemplateText.strip(text, try optionalArgument(0, "chars")))
        case "lstrip": return .string(TemplateText.strip(text, try optionalArgument(0, "chars"), trailing: false))
        case "rstrip": return .string(TemplateText.strip(text, try optionalArgument(0, "chars"), leading: false))
        case "startswith":
            return .bool(try prefixes(0).contains { text.utf8.starts(with: $0.utf8) })
        case "endswith":
            return .bool(try prefixes(0).contains { text.utf8.reversed().starts(with: $0.utf8.reversed()) })
        case "split":
            let separator = try optionalArgument(0, "sep")
            if separator == "" { throw TemplateRuntimeError("empty separator") }
            let limitValue = positional.count > 1 ? positional[1] : keywords.first { $0.0 == "maxsplit" }?.1
            let limit = limitValue.flatMap(TemplateOperators.integer) ?? -1
            return .list(TemplateText.split(text, separator, maxSplit: limit).map { .string($0) })
        case "replace":
            let count = positional.count > 2 ? TemplateOperators.integer(positional[2]) ?? -1 : -1
            return .string(TemplateText.replace(text, try argument(0), try argument(1), count: count))
        case "title", "capitalize":
            return try TemplateFilters.apply(name, .string(text), [], [])
        case "count":
            let part = try argument(0)
            if part.isEmpty { return .int(text.unicodeScalars.count + 1) }
            return .int(TemplateText.split(text, part).count - 1)
        case "find", "index":
            let part = try argument(0)
            guard let byteOffset = TemplateText.find(part, in: text) else {
                if name == "index" { throw TemplateRuntimeError("substring not found") }
                return .int(-1)
            }
            return .int(String(decoding: text.utf8.prefix(byteOffset), as: UTF8.self).unicodeScalars.count)
        case "join":
            guard positional.count == 1 else { throw TemplateRuntimeError("join() takes exactly one argument") }
            var parts: [String] = []
            for item in try TemplateInterpreter.iterate(positional[0]) {
                guard case .string(let part) = item else {
                    throw TemplateRuntimeError(
                        "sequence item \(parts.count): expected str instance, \(item.typeName) found"
                    )
                }
                parts.append(part)
            }
            return .string(parts.joined(separator: text))
        case "isdigit":
            return .bool(
                !text.isEmpty
                    && text.unicodeScalars.allSatisfy {
                        $0.properties.numericType == .digit || $0.properties.numericType == .decimal
                    }
            )
        case "isalpha":
            return .bool(!text.isEmpty && text.unicodeScalars.allSatisfy { $0.properties.isAlphabetic })
        case "isspace":
            return .bool(!text.isEmpty && text.unicodeScalars.allSatisfy(TemplateText.isWhitespace))
        case "removeprefix":
            let prefix = try argument(0)
            guard text.utf8.starts(with: prefix.utf8) else { return .string(text) }
            return .string(String(decoding: text.utf8.dropFirst(prefix.utf8.count), as: UTF8.self))
        case "removesuffix":
            let suffix = try argument(0)
            guard !suffix.isEmpty, text.utf8.reversed().starts(with: suffix.utf8.reversed()) else {
                return .string(text)
            }
            return .string(String(decoding: text.utf8.dropLast(suffix.utf8.count), as: UTF8.self))
        default:
            throw TemplateRuntimeError("the string method '\(name)' is not supported")
        }
    }
}
