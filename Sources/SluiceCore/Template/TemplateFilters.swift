/// Arguments bound to a Python signature: by position, then by keyword.
struct TemplateArgumentList {
    let function: String
    let positional: [TemplateValue]
    let keywords: [(String, TemplateValue)]
    let names: [String]

    init(
        _ function: String,
        _ positional: [TemplateValue],
        _ keywords: [(String, TemplateValue)],
        names: [String],
        variadic: Bool = false
    ) throws(TemplateRuntimeError) {
        self.function = function
        self.positional = positional
        self.keywords = keywords
        self.names = names
        if !variadic && positional.count > names.count {
            throw TemplateRuntimeError(
                "\(function)() takes at most \(names.count) argument\(names.count == 1 ? "" : "s") (\(positional.count) given)"
            )
        }
        for (name, _) in keywords where !names.contains(name) {
            throw TemplateRuntimeError("\(function)() got an unexpected keyword argument '\(name)'")
        }
    }

    subscript(_ position: Int) -> TemplateValue? {
        if position < positional.count { return positional[position] }
        guard position < names.count else { return nil }
        return keywords.first { $0.0 == names[position] }?.1
    }

    func string(_ position: Int, _ defaultValue: String) throws(TemplateRuntimeError) -> String {
        guard let value = self[position] else { return defaultValue }
        guard let text = PythonFormat.str(value) else {
            throw TemplateRuntimeError("\(function)(): \(names[position]) must be a string")
        }
        return text
    }

    func optionalString(_ position: Int) -> String? {
        guard let value = self[position], !value.isNoneValue else { return nil }
        return PythonFormat.str(value)
    }

    func bool(_ position: Int, _ defaultValue: Bool) -> Bool { self[position]?.truthy ?? defaultValue }

    func int(_ position: Int, _ defaultValue: Int) throws(TemplateRuntimeError) -> Int {
        guard let value = self[position] else { return defaultValue }
        guard let number = TemplateOperators.integer(value) else {
            throw TemplateRuntimeError("\(function)(): \(names[position]) must be an integer, not \(value.typeName)")
        }
        return number
    }
}

/// Jinja2 3.1's built-in filters and tests that Sluice supports, with their Python semantics.
enum TemplateFilters {
    static let filterNames: Set<String> = [
        "abs", "attr", "capitalize", "center", "count", "d", "default", "dictsort", "e", "escape", "first", "float",
        "int", "items", "join", "last", "length", "list", "lower", "map", "max", "min", "reject", "rejectattr",
        "replace", "reverse", "round", "safe", "select", "selectattr", "sort", "string", "sum", "title", "tojson",
        "trim", "truncate", "unique", "upper", "wordcount",
    ]

    static let testNames: Set<String> = [
        "boolean", "callable", "defined", "divisibleby", "eq", "equalto", "==", "escaped", "even", "false", "filter",
        "float", "ge", ">=", "gt", "greaterthan", ">", "in", "integer", "iterable", "le", "<=", "lower", "lt",
        "lessthan", "<", "mapping", "ne", "!=", "none", "number", "odd", "sameas", "sequence", "string", "test",
        "true", "undefined", "upper",
    ]

    // MARK: - Filters

    static func apply(
        _ name: String,
        _ value: TemplateValue,
        _ positional: [TemplateValue],
        _ keywords: [(String, TemplateValue)]
    ) throws(TemplateRuntimeError) -> TemplateValue {
        switch name {
        case "abs":
            _ = try TemplateArgumentList(name, positional, keywords, names: [])
            switch TemplateOperators.numeric(value) {
            case .int(let number)?:
                guard number != Int.min else { throw TemplateOperators.overflowError }
                return .int(abs(number))
            case .float(let number)?: return .float(abs(number))
            case nil: throw TemplateRuntimeError("bad operand type for abs(): '\(value.typeName)'")
            }
        case "attr":
            let arguments = try TemplateArgumentList(name, positional, keywords, names: ["name"])
            let attribute = try arguments.string(0, "")
            if case .dict = value.expanded, !TemplateInterpreter.dictionaryMethods.contains(attribute) {
                return .undefined("'dict object' has no attribute '\(attribute)'")
            }
            return TemplateInterpreter.attribute(value, attribute)
        case "capitalize":
            _ = try TemplateArgumentList(name, positional, keywords, names: [])
            return .string(capitalize(try text(value)))
        case "center":
            let arguments = try TemplateArgumentList(name, positional, keywords, names: ["width"])
            let width = try arguments.int(0, 80)
            let content = try text(value)
            let count = content.unicodeScalars.count
            guard width > count else { return .string(content) }
            guard width <= 1_000_000 else { throw TemplateRuntimeError("center(): width too large") }
            let margin = width - count
            let left = margin / 2 + (margin & width & 1)
            return .string(String(repeating: " ", count: left) + content + String(repeating: " ", count: margin - left))
        case "count", "length":
            _ = try TemplateArgumentList(name, positional, keywords, names: [])
            return .int(try length(value))
        case "d", "default":
            let arguments = try TemplateArgumentList(name, positional, keywords, names: ["default_value", "boolean"])
            if value.isUndefined || (arguments.bool(1, false) && !value.truthy) {
                return arguments[0] ?? .string("")
            }
            return value
        case "dictsort":
            let arguments = try TemplateArgumentList(
                name,
                positional,
                keywords,
                names: ["case_sensitive", "by", "reverse"]
            )
            guard case .dict(let entries) = value.expanded else {
                throw TemplateRuntimeError("dictsort needs a mapping, not \(value.typeName)")
            }
            let by = try arguments.string(1, "key")
            guard by == "key" || by == "value" else {
                throw TemplateRuntimeError("You can only sort by either \"key\" or \"value\"")
            }
            let caseSensitive = arguments.bool(0, false)
            let pairs = entries.map { TemplateValue.tuple([.string($0.key), $0.value]) }
            return .list(
                try sorted(pairs, reverse: arguments.bool(2, false)) { (pair) throws(TemplateRuntimeError) in
                    guard case .tuple(let parts) = pair else { return pair }
                    let part = parts[by == "key" ? 0 : 1]
                    return caseSensitive ? part : ignoreCase(part)
                }
            )
        case "e", "escape":
            _ = try TemplateArgumentList(name, positional, keywords, names: [])
            return .string(escapeHTML(try text(value)))
        case "first":
            _ = try TemplateArgumentList(name, positional, keywords, names: [])
            return try TemplateInterpreter.iterate(value).first ?? .undefined("No first item, sequence was empty.")
        case "last":
            _ = try TemplateArgumentList(name, positional, keywords, names: [])
            if case .iterator = value { throw TemplateRuntimeError("'generator' object is not reversible") }
            return try TemplateInterpreter.iterate(value).last ?? .undefined("No last item, sequence was empty.")
        case "float":
            let arguments = try TemplateArgumentList(name, positional, keywords, names: ["default"])
            return toFloat(value) ?? arguments[0] ?? .float(0)
        case "int":
            let arguments = try TemplateArgumentList(name, positional, keywords, names: ["default", "base"])
            return try toInt(value, base: try arguments.int(1, 10)) ?? arguments[0] ?? .int(0)
        case "items":
            _ = try TemplateArgumentList(name, positional, keywords, names: [])
            switch value.expanded {
            case .undefined: return .iterator([])
            case .dict(let entries): return .iterator(entries.map { .tuple([.string($0.key), $0.value]) })
            default: throw TemplateRuntimeError("Can only get item pairs from a mapping.")
            }
        case "join":
            let arguments = try TemplateArgumentList(name, positional, keywords, names: ["d", "attribute"])
            let separator = try arguments.string(0, "")
            var items = try TemplateInterpreter.iterate(value)
            if let attribute = arguments[1], !attribute.isNoneValue {
                items = items.map { attributeGetter(attribute)($0) }
            }
            var parts: [String] = []
            for item in items {
                guard let part = PythonFormat.str(item) else {
                    throw TemplateRuntimeError("cannot join a \(item.typeName)")
                }
                parts.append(part)
            }
            return .string(parts.joined(separator: separator))
        case "list":
            _ = try TemplateArgumentList(name, positional, keywords, names: [])
            return .list(try TemplateInterpreter.iterate(value))
        case "lower":
            _ = try TemplateArgumentList(name, positional, keywords, names: [])
            return .string(try text(value).lowercased())
        case "upper":
            _ = try TemplateArgumentList(name, positional, keywords, names: [])
            return .string(try text(value).uppercased())
        case "map":
            return try map(value, positional, keywords)
        case "max", "min":
            let arguments = try TemplateArgumentList(
                name,
                positional,
                keywords,
                names: ["case_sensitive", "attribute"]
            )
            let items = try TemplateInterpreter.iterate(value)
            guard var best = items.first else { return .undefined("No aggregated item, sequence was empty.") }
            let getter = arguments[1].map(attributeGetter) ?? { $0 }
            let caseSensitive = arguments.bool(0, false)
            func key(_ item: TemplateValue) -> TemplateValue {
                caseSensitive ? getter(item) : ignoreCase(getter(item))
            }
            var bestKey = key(best)
            for item in items.dropFirst() {
                let itemKey = key(item)
                let better =
                    name == "max"
                    ? try TemplateOperators.less(bestKey, itemKey) : try TemplateOperators.less(itemKey, bestKey)
                if better {
                    best = item
                    bestKey = itemKey
                }
            }
            return best
        case "select", "reject":
            let items = try TemplateInterpreter.iterate(value)
            var kept: [TemplateValue] = []
            for item in items {
                let passes = try selectTest(item, positional, keywords)
                if passes == (name == "select") { kept.append(item) }
            }
            return .iterator(kept)
        case "selectattr", "rejectattr":
            guard let attribute = positional.first else {
                throw TemplateRuntimeError("Missing parameter for attribute name")
            }
            let getter = attributeGetter(attribute)
            var kept: [TemplateValue] = []
            for item in try TemplateInterpreter.iterate(value) {
                let passes = try selectTest(getter(item), Array(positional.dropFirst()), keywords)
                if passes == (name == "selectattr") { kept.append(item) }
            }
            return .iterator(kept)
        case "replace":
            let arguments = try TemplateArgumentList(name, positional, keywords, names: ["old", "new", "count"])
            guard arguments[0] != nil, arguments[1] != nil else {
                throw TemplateRuntimeError("replace() missing required arguments 'old' and 'new'")
            }
            let count = arguments[2].flatMap { $0.isNoneValue ? nil : TemplateOperators.integer($0) } ?? -1
            return .string(
                TemplateText.replace(
                    try text(value),
                    try arguments.string(0, ""),
                    try arguments.string(1, ""),
                    count: count
                )
            )
        case "reverse":
            _ = try TemplateArgumentList(name, positional, keywords, names: [])
            if case .string(let content) = value {
                return .string(String(String.UnicodeScalarView(content.unicodeScalars.reversed())))
            }
            return .iterator(try TemplateInterpreter.iterate(value).reversed())
        case "round":
            let arguments = try TemplateArgumentList(name, positional, keywords, names: ["precision", "method"])
            return try round(value, precision: try arguments.int(0, 0), method: try arguments.string(1, "common"))
        case "safe", "string":
            _ = try TemplateArgumentList(name, positional, keywords, names: [])
            return .string(try text(value))
        case "sort":
            let arguments = try TemplateArgumentList(
                name,
                positional,
                keywords,
                names: ["reverse", "case_sensitive", "attribute"]
            )
            let caseSensitive = arguments.bool(1, false)
            let attributes: [TemplateValue]
            if let attribute = arguments[2], !attribute.isNoneValue {
                if case .string(let text) = attribute {
                    attributes = TemplateText.split(text, ",").map { .string($0) }
                } else {
                    attributes = [attribute]
                }
            } else {
                attributes = []
            }
            let items = try TemplateInterpreter.iterate(value)
            return .list(
                try sorted(items, reverse: arguments.bool(0, false)) { (item) throws(TemplateRuntimeError) in
                    if attributes.isEmpty { return caseSensitive ? item : ignoreCase(item) }
                    return .list(
                        attributes.map { attribute in
                            let part = attributeGetter(attribute)(item)
                            return caseSensitive ? part : ignoreCase(part)
                        }
                    )
                }
            )
        case "sum":
            let arguments = try TemplateArgumentList(name, positional, keywords, names: ["attribute", "start"])
            var total = arguments[1] ?? .int(0)
            let getter = arguments[0].flatMap { $0.isNoneValue ? nil : attributeGetter($0) } ?? { $0 }
            for item in try TemplateInterpreter.iterate(value) {
                total = try TemplateOperators.binary("+", total, getter(item))
            }
            return total
        case "title":
            _ = try TemplateArgumentList(name, positional, keywords, names: [])
            return .string(title(try text(value)))
        case "tojson":
            let arguments = try TemplateArgumentList(name, positional, keywords, names: ["indent"])
            let indent = arguments[0].flatMap { $0.isNoneValue ? nil : TemplateOperators.integer($0) }
            do {
                return .string(try PythonFormat.toJSON(value, indent: indent))
            } catch {
                guard case .notSerializable(let type) = error else { fatalError("unreachable") }
                throw TemplateRuntimeError("Object of type \(type) is not JSON serializable")
            }
        case "trim":
            let arguments = try TemplateArgumentList(name, positional, keywords, names: ["chars"])
            return .string(TemplateText.strip(try text(value), arguments.optionalString(0)))
        case "truncate":
            let arguments = try TemplateArgumentList(
                name,
                positional,
                keywords,
                names: ["length", "killwords", "end", "leeway"]
            )
            let content = Array(try text(value).unicodeScalars)
            let limit = try arguments.int(0, 255)
            let end = try arguments.string(2, "...")
            let leeway = try arguments.int(3, 5)
            let endCount = end.unicodeScalars.count
            guard limit >= endCount else { throw TemplateRuntimeError("expected length >= \(endCount), got \(limit)") }
            guard leeway >= 0 else { throw TemplateRuntimeError("expected leeway >= 0, got \(leeway)") }
            if content.count <= limit + leeway { return value.isStringValue ? value : .string(try text(value)) }
            var head = String.UnicodeScalarView()
            head.append(contentsOf: content[0..<(limit - endCount)])
            if arguments.bool(1, false) { return .string(String(head) + end) }
            let text = String(head)
            if let space = text.utf8.lastIndex(of: UInt8(ascii: " ")) {
                return .string(String(decoding: text.utf8[..<space], as: UTF8.self) + end)
            }
            return .string(text + end)
        case "unique":
            let arguments = try TemplateArgumentList(
                name,
                positional,
                keywords,
                names: ["case_sensitive", "attribute"]
            )
            let getter = arguments[1].flatMap { $0.isNoneValue ? nil : attributeGetter($0) } ?? { $0 }
            let caseSensitive = arguments.bool(0, false)
            var seen: [TemplateValue] = []
            var kept: [TemplateValue] = []
            for item in try TemplateInterpreter.iterate(value) {
                let key = caseSensitive ? getter(item) : ignoreCase(getter(item))
                if !seen.contains(where: { TemplateOperators.equals($0, key) }) {
                    seen.append(key)
                    kept.append(item)
                }
            }
            return .iterator(kept)
        case "wordcount":
            _ = try TemplateArgumentList(name, positional, keywords, names: [])
            var count = 0
            var inWord = false
            for scalar in try text(value).unicodeScalars {
                let isWord = scalar.properties.isAlphabetic || scalar.properties.numericType != nil || scalar == "_"
                if isWord && !inWord { count += 1 }
                inWord = isWord
            }
            return .int(count)
        default:
            throw TemplateRuntimeError("No filter named '\(name)'.")
        }
    }

    /// `soft_str`: Python's `str()` of the value; methods and generators have no stable text.
    static func text(_ value: TemplateValue) throws(TemplateRuntimeError) -> String {
        guard let text = PythonFormat.str(value) else {
            throw TemplateRuntimeError("a \(value.typeName) has no stable text (Jinja2 prints its address)")
        }
        return text
    }

    static func length(_ value: TemplateValue) throws(TemplateRuntimeError) -> Int {
        switch value.expanded {
        case .undefined: return 0
        case .string(let text): return text.unicodeScalars.count
        case .list(let elements), .tuple(let elements): return elements.count
        case .dict(let entries): return entries.count
        default: throw TemplateRuntimeError("object of type '\(value.typeName)' has no len()")
        }
    }

    private static func ignoreCase(_ value: TemplateValue) -> TemplateValue {
        if case .string(let text) = value { return .string(text.lowercased()) }
        return value
    }

    /// Jinja's `make_attrgetter`: dotted paths, integer parts looked up as integers, via `getitem`.
    static func attributeGetter(_ attribute: TemplateValue) -> (TemplateValue) -> TemplateValue {
        let parts: [TemplateValue]
        if case .string(let text) = attribute {
            parts = TemplateText.split(text, ".").map { part in Int(part).map { .int($0) } ?? .string(part) }
        } else {
            parts = [attribute]
        }
        return { item in
            var current = item
            for part in parts { current = TemplateInterpreter.item(current, part) }
            return current
        }
    }

    /// Python's `sorted(items, key=key, reverse=reverse)`: stable, equal keys keep their order either way.
    private static func sorted(
        _ items: [TemplateValue],
        reverse: Bool,
        key: (TemplateValue) throws(TemplateRuntimeError) -> TemplateValue
    ) throws(TemplateRuntimeError) -> [TemplateValue] {
        var keyed: [(key: TemplateValue, position: Int, item: TemplateValue)] = []
        for (position, item) in items.enumerated() { keyed.append((try key(item), position, item)) }
        // Insertion-merge sort with a throwing comparison (lists in templates are small).
        var failure: TemplateRuntimeError?
        keyed.sort { left, right in
            if failure != nil { return left.position < right.position }
            do throws(TemplateRuntimeError) {
                let before =
                    reverse
                    ? try TemplateOperators.less(right.key, left.key) : try TemplateOperators.less(left.key, right.key)
                if before { return true }
                let after =
                    reverse
                    ? try TemplateOperators.less(left.key, right.key) : try TemplateOperators.less(right.key, left.key)
                if after { return false }
                return left.position < right.position
            } catch {
                failure = error
                return left.position < right.position
            }
        }
        if let failure { throw failure }
        return keyed.map(\.item)
    }

    private static func map(
        _ value: TemplateValue,
        _ positional: [TemplateValue],
        _ keywords: [(String, TemplateValue)]
    ) throws(TemplateRuntimeError) -> TemplateValue {
        let items = try TemplateInterpreter.iterate(value)
        if positional.isEmpty, let attribute = keywords.first(where: { $0.0 == "attribute" })?.1 {
            for (name, _) in keywords where name != "attribute" && name != "default" {
                throw TemplateRuntimeError("Unexpected keyword argument '\(name)'")
            }
            let getter = attributeGetter(attribute)
            let fallback = keywords.first(where: { $0.0 == "default" })?.1
            return .iterator(
                items.map { item in
                    let found = getter(item)
                    if let fallback, !fallback.isNoneValue, found.isUndefined { return fallback }
                    return found
                }
            )
        }
        guard case .string(let filter)? = positional.first else {
            throw TemplateRuntimeError("map requires a filter argument")
        }
        guard filterNames.contains(filter) else { throw TemplateRuntimeError("No filter named '\(filter)'.") }
        var mapped: [TemplateValue] = []
        for item in items { mapped.append(try apply(filter, item, Array(positional.dropFirst()), keywords)) }
        return .iterator(mapped)
    }

    private static func selectTest(
        _ item: TemplateValue,
        _ positional: [TemplateValue],
        _ keywords: [(String, TemplateValue)]
    ) throws(TemplateRuntimeError) -> Bool {
        guard let first = positional.first else { return item.truthy }
        guard case .string(let testName) = first else { throw TemplateRuntimeError("the test name must be a string") }
        guard testNames.contains(testName) else { throw TemplateRuntimeError("No test named '\(testName)'.") }
        return try test(testName, item, Array(positional.dropFirst()), keywords)
    }

    private static func round(
        _ value: TemplateValue,
        precision: Int,
        method: String
    ) throws(TemplateRuntimeError)
        -> TemplateValue
    {
        guard ["common", "ceil", "floor"].contains(method) else {
            throw TemplateRuntimeError("method must be common, ceil or floor")
        }
        guard let number = TemplateOperators.numeric(value) else {
            throw TemplateRuntimeError("type \(value.typeName) doesn't define __round__ method")
        }
        guard abs(precision) <= 300 else { throw TemplateRuntimeError("round(): precision out of range -300...300") }
        let scale = TemplateOperators.power(10, Double(precision))
        if method != "common" {
            let scaled = number.double * scale
            let rounded = method == "ceil" ? scaled.rounded(.up) : scaled.rounded(.down)
            return .float(rounded / scale)
        }
        switch number {
        case .int(let integer):
            if precision >= 0 { return .int(integer) }
            return .int(try roundInteger(integer, digits: -precision))
        case .float(let double):
            guard double.isFinite else { return .float(double) }
            if let exact = roundExactly(double, precision) { return .float(exact) }
            let scaled = double * scale
            guard scaled.isFinite else { return .float(double) }
            return .float(scaled.rounded(.toNearestOrEven) / scale)
        }
    }

    /// Python's `round(x, n)` for 0 ≤ n ≤ 22: the exact binary value rounded half to even at `n` decimals
    /// (`2.675` is 2.67499999…, so `2.67`), then read back as the nearest double.
    private static func roundExactly(_ value: Double, _ precision: Int) -> Double? {
        guard precision >= 0 && precision <= 22 else { return nil }
        let magnitude = abs(value)
        if magnitude == 0 { return value }
        let exponent = Int(magnitude.exponent) - 52
        let significand = UInt128(magnitude.significandBitPattern | (magnitude.isNormal ? 1 << 52 : 0))
        let shift = magnitude.isNormal ? -exponent : 1074
        guard shift > 0 else { return value }  // an integer already
        var power: UInt128 = 1
        for _ in 0..<precision { power *= 10 }
        let scaled = significand * power
        var quotient: UInt128
        if shift >= 127 {
            quotient = 0
        } else {
            quotient = scaled >> shift
            let remainder = scaled & ((1 << shift) - 1)
            let half: UInt128 = 1 << (shift - 1)
            if remainder > half || (remainder == half && quotient & 1 == 1) { quotient += 1 }
        }
        let text = (value.sign == .minus ? "-" : "") + String(quotient) + "e-" + String(precision)
        return Double(text)
    }

    private static func toFloat(_ value: TemplateValue) -> TemplateValue? {
        switch value {
        case .int(let number): return .float(Double(number))
        case .bool(let flag): return .float(flag ? 1 : 0)
        case .float: return value
        case .bigInteger(let text): return Double(text).map { .float($0) }
        case .string(let text):
            return pythonFloat(text).map { .float($0) }
        default: return nil
        }
    }

    /// Python's `float(str)`: surrounding whitespace, `_` between digits, `inf`/`nan` in any case.
    static func pythonFloat(_ text: String) -> Double? {
        let trimmed = TemplateText.strip(text, nil)
        let lowered = trimmed.lowercased()
        switch lowered {
        case "inf", "+inf", "infinity", "+infinity": return .infinity
        case "-inf", "-infinity": return -.infinity
        case "nan", "+nan", "-nan": return .nan
        default: break
        }
        guard !trimmed.isEmpty, !trimmed.hasPrefix("_"), !trimmed.hasSuffix("_"), !trimmed.contains("__") else {
            return nil
        }
        let cleaned = trimmed.replacingUnderscores()
        guard
            cleaned.utf8.allSatisfy({ byte in
                (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: ".")
                    || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") || byte == UInt8(ascii: "+")
                    || byte == UInt8(ascii: "-")
            })
        else { return nil }
        return Double(cleaned)
    }

    /// Jinja2's `int` filter: `int(value, base)` for strings, `int(value)` otherwise, then
    /// `int(float(value))`; `nil` means "use the default".
    private static func toInt(_ value: TemplateValue, base: Int) throws(TemplateRuntimeError) -> TemplateValue? {
        switch value {
        case .int: return value
        case .bool(let flag): return .int(flag ? 1 : 0)
        case .float(let number):
            guard number.isFinite else {
                if number.isNaN { return nil }
                throw TemplateRuntimeError("cannot convert float infinity to integer")
            }
            guard let integer = Int(exactly: number.rounded(.towardZero)) else { throw TemplateOperators.overflowError }
            return .int(integer)
        case .string(let text):
            let trimmed = TemplateText.strip(text, nil)
            if base == 10, !trimmed.contains("__"), !trimmed.hasPrefix("_"), !trimmed.hasSuffix("_"),
                let integer = Int(trimmed.replacingUnderscores()), !trimmed.hasPrefix("+_"), !trimmed.hasPrefix("-_")
            {
                return .int(integer)
            }
            if base != 10, (2...36).contains(base), let integer = Int(trimmed, radix: base) { return .int(integer) }
            if let double = pythonFloat(text) {
                return try toInt(.float(double), base: 10)
            }
            return nil
        default:
            return nil
        }
    }

    private static func capitalize(_ text: String) -> String {
        guard let first = text.unicodeScalars.first else { return text }
        let rest = String(String.UnicodeScalarView(text.unicodeScalars.dropFirst()))
        return String(first).uppercased() + rest.lowercased()
    }

    /// Jinja2's `title`: each piece after `-`, whitespace, `(`, `{`, `[` or `<` capitalized.
    private static func title(_ text: String) -> String {
        var output = ""
        var atStart = true
        for scalar in text.unicodeScalars {
            let separator =
                scalar == "-" || scalar == "(" || scalar == "{" || scalar == "[" || scalar == "<"
                || TemplateText.isWhitespace(scalar)
            if separator {
                output.unicodeScalars.append(scalar)
                atStart = true
            } else if atStart {
                output += String(scalar).uppercased()
                atStart = false
            } else {
                output += String(scalar).lowercased()
            }
        }
        return output
    }

    static func escapeHTML(_ text: String) -> String {
        var output = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": output += "&amp;"
            case "<": output += "&lt;"
            case ">": output += "&gt;"
            case "\"": output += "&#34;"
            case "'": output += "&#39;"
            default: output.unicodeScalars.append(scalar)
            }
        }
        return output
    }

    // MARK: - Tests

    static func test(
        _ name: String,
        _ value: TemplateValue,
        _ positional: [TemplateValue],
        _ keywords: [(String, TemplateValue)]
    ) throws(TemplateRuntimeError) -> Bool {
        func other() throws(TemplateRuntimeError) -> TemplateValue {
            let arguments = try TemplateArgumentList(name, positional, keywords, names: ["other"])
            guard let argument = arguments[0] else {
                throw TemplateRuntimeError("\(name)() missing 1 required argument")
            }
            return argument
        }
        switch name {
        case "defined": return !value.isUndefined
        case "undefined": return value.isUndefined
        case "none": return value.isNoneValue
        case "boolean":
            if case .bool = value { return true }
            return false
        case "true":
            if case .bool(true) = value { return true }
            return false
        case "false":
            if case .bool(false) = value { return true }
            return false
        case "integer":
            switch value {
            case .int, .bigInteger: return true
            default: return false
            }
        case "float":
            if case .float = value { return true }
            return false
        case "number":
            switch value {
            case .int, .bigInteger, .float, .bool: return true
            default: return false
            }
        case "string": return value.isStringValue
        case "mapping":
            if case .dict = value.expanded { return true }
            return false
        case "iterable":
            switch value.expanded {
            case .list, .tuple, .dict, .string, .iterator, .undefined: return true
            default: return false
            }
        case "sequence":
            switch value.expanded {
            case .list, .tuple, .dict, .string, .undefined: return true
            default: return false
            }
        case "callable":
            switch value {
            case .method, .function: return true
            default: return false
            }
        case "escaped": return false
        case "sameas":
            let right = try other()
            switch (value, right) {
            case (.none, .none): return true
            case (.bool(let a), .bool(let b)): return a == b
            default: return false
            }
        case "eq", "equalto", "==": return TemplateOperators.equals(value, try other())
        case "ne", "!=": return !TemplateOperators.equals(value, try other())
        case "lt", "lessthan", "<": return try TemplateOperators.less(value, try other())
        case "gt", "greaterthan", ">": return try TemplateOperators.less(try other(), value)
        case "le", "<=":
            let right = try other()
            return try TemplateOperators.less(value, right) || TemplateOperators.equals(value, right)
        case "ge", ">=":
            let right = try other()
            return try TemplateOperators.less(right, value) || TemplateOperators.equals(value, right)
        case "in": return try TemplateOperators.contains(try other(), value)
        case "even", "odd":
            let remainder = try TemplateOperators.binary("%", value, .int(2))
            return TemplateOperators.equals(remainder, .int(name == "even" ? 0 : 1))
        case "divisibleby":
            let remainder = try TemplateOperators.binary("%", value, try other())
            return TemplateOperators.equals(remainder, .int(0))
        case "lower":
            let content = try text(value)
            return content.lowercased() == content && content.uppercased() != content
        case "upper":
            let content = try text(value)
            return content.uppercased() == content && content.lowercased() != content
        case "filter":
            guard case .string(let filter) = value else { return false }
            return filterNames.contains(filter)
        case "test":
            guard case .string(let test) = value else { return false }
            return testNames.contains(test)
        default:
            throw TemplateRuntimeError("No test named '\(name)'.")
        }
    }
}

extension TemplateValue {
    var isStringValue: Bool {
        if case .string = self { return true }
        return false
    }
}

extension String {
    fileprivate func replacingUnderscores() -> String {
        String(decoding: utf8.filter { $0 != UInt8(ascii: "_") }, as: UTF8.self)
    }
}

/// Python's `round(integer, -digits)`: to the nearest multiple of 10^digits, ties to even, exactly (no
/// `Double`); a result beyond 64 bits is an error, never a trap.
func roundInteger(_ integer: Int, digits: Int) throws(TemplateRuntimeError) -> Int {
    var factor = 1
    for _ in 0..<digits {
        let (product, overflow) = factor.multipliedReportingOverflow(by: 10)
        if overflow {
            // 10^digits exceeds every 64-bit integer: only a magnitude of at least half of it could round up.
            if digits == 19, integer.magnitude > 5_000_000_000_000_000_000 {
                throw TemplateRuntimeError("round(): the result does not fit in 64 bits")
            }
            return 0
        }
        factor = product
    }
    var quotient = integer / factor
    let twiceRemainder = (integer % factor).magnitude * 2
    if twiceRemainder > UInt(factor) || (twiceRemainder == UInt(factor) && quotient % 2 != 0) {
        quotient += integer < 0 ? -1 : 1
    }
    let (result, overflow) = quotient.multipliedReportingOverflow(by: factor)
    if overflow { throw TemplateRuntimeError("round(): the result does not fit in 64 bits") }
    return result
}
