/// A render-time failure (the statement's offset and the parameter path are added by the caller).
struct TemplateRuntimeError: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

/// Evaluates a parsed template against a context with Jinja2's semantics, as Prefect configures its
/// environment: `ImmutableSandboxedEnvironment`, `ChainableUndefined`, no autoescape, `range` limited to
/// 100 items.
struct TemplateInterpreter {
    private var scopes: [[String: TemplateValue]] = [[:]]
    private let context: JSONObject
    /// Prefect's `MAX_TEMPLATE_RANGE`.
    static let rangeMax = 100

    init(context: JSONObject) { self.context = context }

    static func render(_ nodes: [TemplateNode], context: JSONObject) throws(TemplateError) -> String {
        var interpreter = TemplateInterpreter(context: context)
        var output = ""
        try interpreter.run(nodes, into: &output)
        return output
    }

    private mutating func run(_ nodes: [TemplateNode], into output: inout String) throws(TemplateError) {
        for node in nodes {
            switch node {
            case .text(let text):
                output += text
            case .output(let expression, let offset):
                let value = try evaluating(offset) {
                    (interpreter: inout TemplateInterpreter) throws(TemplateRuntimeError) in
                    try interpreter.evaluate(expression)
                }
                guard let text = PythonFormat.str(value) else {
                    throw TemplateError(
                        path: "",
                        offset: offset,
                        message:
                            "cannot print a \(value.typeName) (Jinja2 prints its memory address); call it or add | list"
                    )
                }
                output += text
            case .conditional(let branches, let otherwise, let offset):
                var taken = false
                for (condition, body) in branches {
                    let value = try evaluating(offset) {
                        (interpreter: inout TemplateInterpreter) throws(TemplateRuntimeError) in
                        try interpreter.evaluate(condition)
                    }
                    if value.truthy {
                        try run(body, into: &output)
                        taken = true
                        break
                    }
                }
                if !taken { try run(otherwise, into: &output) }
            case .loop(let targets, let iterable, let filter, let body, let otherwise, let offset):
                try loop(targets, iterable, filter, body, otherwise, offset, into: &output)
            case .assign(let targets, let expression, let offset):
                let value = try evaluating(offset) {
                    (interpreter: inout TemplateInterpreter) throws(TemplateRuntimeError) in
                    try interpreter.evaluate(expression)
                }
                try evaluating(offset) { (interpreter: inout TemplateInterpreter) throws(TemplateRuntimeError) in
                    try interpreter.bind(targets, value)
                }
            case .assignBlock(let target, let body, _):
                var captured = ""
                try run(body, into: &captured)
                scopes[scopes.count - 1][target] = .string(captured)
            }
        }
    }

    private mutating func evaluating<T>(
        _ offset: Int,
        _ work: (inout TemplateInterpreter) throws(TemplateRuntimeError) -> T
    ) throws(TemplateError) -> T {
        do {
            return try work(&self)
        } catch {
            throw TemplateError(path: "", offset: offset, message: error.message)
        }
    }

    private mutating func bind(_ targets: [String], _ value: TemplateValue) throws(TemplateRuntimeError) {
        if targets.count == 1 {
            scopes[scopes.count - 1][targets[0]] = value
            return
        }
        let parts = try Self.iterate(value)
        guard parts.count == targets.count else {
            throw TemplateRuntimeError(
                parts.count > targets.count
                    ? "too many values to unpack (expected \(targets.count))"
                    : "not enough values to unpack (expected \(targets.count), got \(parts.count))"
            )
        }
        for (name, part) in zip(targets, parts) { scopes[scopes.count - 1][name] = part }
    }

    private mutating func loop(
        _ targets: [String],
        _ iterable: TemplateExpression,
        _ filter: TemplateExpression?,
        _ body: [TemplateNode],
        _ otherwise: [TemplateNode],
        _ offset: Int,
        into output: inout String
    ) throws(TemplateError) {
        var items = try evaluating(offset) { (interpreter: inout TemplateInterpreter) throws(TemplateRuntimeError) in
            try Self.iterate(try interpreter.evaluate(iterable))
        }
        if let filter {
            var kept: [TemplateValue] = []
            for item in items {
                scopes.append([:])
                defer { scopes.removeLast() }
                try evaluating(offset) { (interpreter: inout TemplateInterpreter) throws(TemplateRuntimeError) in
                    try interpreter.bind(targets, item)
                }
                let keep = try evaluating(offset) {
                    (interpreter: inout TemplateInterpreter) throws(TemplateRuntimeError) in
                    try interpreter.evaluate(filter)
                }
                if keep.truthy { kept.append(item) }
            }
            items = kept
        }
        if items.isEmpty {
            try run(otherwise, into: &output)
            return
        }
        for (position, item) in items.enumerated() {
            scopes.append([:])
            defer { scopes.removeLast() }
            try evaluating(offset) { (interpreter: inout TemplateInterpreter) throws(TemplateRuntimeError) in
                try interpreter.bind(targets, item)
            }
            scopes[scopes.count - 1]["loop"] = .loop(
                TemplateLoop(
                    index0: position,
                    length: items.count,
                    previous: position > 0 ? items[position - 1] : .undefined("there is no previous item"),
                    next: position + 1 < items.count ? items[position + 1] : .undefined("there is no next item"),
                    depth0: 0  // `depth` counts recursive calls; Sluice has no recursive loops
                )
            )
            try run(body, into: &output)
        }
    }

    // MARK: - Names

    private func lookup(_ name: String) -> TemplateValue {
        for scope in scopes.reversed() {
            if let value = scope[name] { return value }
        }
        for member in context.members where member.key.pythonEquals(name) {
            return .fromJSON(member.value)
        }
        switch name {
        case "range", "dict", "lipsum", "cycler", "joiner", "namespace": return .function(name)
        default: return .undefined("'\(name)' is undefined")
        }
    }

    // MARK: - Expressions

    mutating func evaluate(_ expression: TemplateExpression) throws(TemplateRuntimeError) -> TemplateValue {
        switch expression {
        case .constant(let value):
            return value
        case .name(let name):
            return lookup(name)
        case .list(let items):
            var values: [TemplateValue] = []
            values.reserveCapacity(items.count)
            for item in items { values.append(try evaluate(item)) }
            return .list(values)
        case .tuple(let items):
            var values: [TemplateValue] = []
            for item in items { values.append(try evaluate(item)) }
            return .tuple(values)
        case .dict(let items):
            var entries: [TemplateEntry] = []
            for (keyExpression, valueExpression) in items {
                let key = try evaluate(keyExpression)
                guard case .string(let text) = key else {
                    throw TemplateRuntimeError("dictionary keys must be strings here (found \(key.typeName))")
                }
                let value = try evaluate(valueExpression)
                if let existing = entries.firstIndex(where: { $0.key.pythonEquals(text) }) {
                    entries[existing].value = value
                } else {
                    entries.append(TemplateEntry(key: text, value: value))
                }
            }
            return .dict(entries)
        case .attribute(let base, let name):
            return Self.attribute(try evaluate(base), name)
        case .item(let base, let key):
            return Self.item(try evaluate(base), try evaluate(key))
        case .slice(let base, let start, let stop, let step):
            let value = try evaluate(base)
            return try Self.slice(
                value,
                try start.map { (expression) throws(TemplateRuntimeError) in try evaluate(expression) },
                try stop.map { (expression) throws(TemplateRuntimeError) in try evaluate(expression) },
                try step.map { (expression) throws(TemplateRuntimeError) in try evaluate(expression) }
            )
        case .call(let callee, let arguments):
            let function = try evaluate(callee)
            let (positional, keywords) = try evaluateArguments(arguments)
            return try TemplateCalls.call(function, positional, keywords)
        case .filter(let base, let name, let arguments, _):
            let value = try evaluate(base)
            let (positional, keywords) = try evaluateArguments(arguments)
            return try TemplateFilters.apply(name, value, positional, keywords)
        case .test(let base, let name, let arguments, let negated, _):
            let value = try evaluate(base)
            let (positional, keywords) = try evaluateArguments(arguments)
            let result = try TemplateFilters.test(name, value, positional, keywords)
            return .bool(negated ? !result : result)
        case .negative(let operand):
            return try TemplateOperators.negate(try evaluate(operand))
        case .positive(let operand):
            let value = try evaluate(operand)
            guard TemplateOperators.numeric(value) != nil else {
                throw TemplateRuntimeError("bad operand type for unary +: '\(value.typeName)'")
            }
            if case .bool(let flag) = value { return .int(flag ? 1 : 0) }
            return value
        case .not(let operand):
            return .bool(!(try evaluate(operand)).truthy)
        case .binary(let operation, let left, let right):
            return try TemplateOperators.binary(operation, try evaluate(left), try evaluate(right))
        case .and(let left, let right):
            let value = try evaluate(left)
            return value.truthy ? try evaluate(right) : value
        case .or(let left, let right):
            let value = try evaluate(left)
            return value.truthy ? value : try evaluate(right)
        case .compare(let first, let operations):
            var left = try evaluate(first)
            for (operation, rightExpression) in operations {
                let right = try evaluate(rightExpression)
                guard try TemplateOperators.compare(operation, left, right) else { return .bool(false) }
                left = right
            }
            return .bool(true)
        case .condition(let test, let then, let otherwise):
            if try evaluate(test).truthy { return try evaluate(then) }
            guard let otherwise else {
                return .undefined("the inline if-expression evaluated to false and no else section was defined.")
            }
            return try evaluate(otherwise)
        }
    }

    private mutating func evaluateArguments(
        _ arguments: TemplateArguments
    ) throws(TemplateRuntimeError) -> ([TemplateValue], [(String, TemplateValue)]) {
        var positional: [TemplateValue] = []
        for argument in arguments.positional { positional.append(try evaluate(argument)) }
        var keywords: [(String, TemplateValue)] = []
        for (name, argument) in arguments.keywords { keywords.append((name, try evaluate(argument))) }
        return (positional, keywords)
    }

    // MARK: - Attribute and item access (the sandbox's getattr / getitem)

    static let dictionaryMethods: Set<String> = ["get", "items", "keys", "values", "copy"]
    static let dictionaryMutators: Set<String> = ["pop", "popitem", "update", "setdefault", "clear", "fromkeys"]
    static let stringMethods: Set<String> = [
        "lower", "upper", "strip", "lstrip", "rstrip", "startswith", "endswith", "split", "replace", "title",
        "capitalize", "count", "find", "index", "join", "isdigit", "isalpha", "isspace", "removeprefix",
        "removesuffix",
    ]
    static let listMethods: Set<String> = ["count", "index", "copy"]
    static let listMutators: Set<String> = ["append", "clear", "extend", "insert", "pop", "remove", "reverse", "sort"]

    /// `obj.name`: Python's attribute first (methods), then the item; internals (`__x__`) and methods
    /// that mutate are the sandbox's "unsafe" undefined.
    static func attribute(_ value: TemplateValue, _ name: String) -> TemplateValue {
        if name.hasPrefix("__") && name.hasSuffix("__") && name.utf8.count > 4 {
            if case .undefined = value { return value }
            return .undefined("access to attribute '\(name)' of '\(value.typeName)' object is unsafe.")
        }
        switch value {
        case .undefined:
            return value
        case .dict, .json(.object):
            if dictionaryMethods.contains(name) { return .method(receiver: value, name: name) }
            if dictionaryMutators.contains(name) {
                return .undefined("access to attribute '\(name)' of 'dict' object is unsafe.")
            }
            return dictionaryValue(value, name) ?? .undefined("'dict object' has no attribute '\(name)'")
        case .string:
            if stringMethods.contains(name) { return .method(receiver: value, name: name) }
        case .list, .json(.array), .tuple:
            if listMethods.contains(name) { return .method(receiver: value, name: name) }
            if listMutators.contains(name), value.typeName == "list" {
                return .undefined("access to attribute '\(name)' of 'list' object is unsafe.")
            }
        case .loop(let loop):
            return loopAttribute(loop, name)
        default:
            break
        }
        return .undefined("'\(value.typeName) object' has no attribute '\(name)'")
    }

    static func dictionaryValue(_ value: TemplateValue, _ key: String) -> TemplateValue? {
        switch value {
        case .json(.object(let object)):
            for member in object.members where member.key.pythonEquals(key) { return .fromJSON(member.value) }
        case .dict(let entries):
            for entry in entries where entry.key.pythonEquals(key) { return entry.value }
        default:
            break
        }
        return nil
    }

    private static func loopAttribute(_ loop: TemplateLoop, _ name: String) -> TemplateValue {
        switch name {
        case "index": return .int(loop.index0 + 1)
        case "index0": return .int(loop.index0)
        case "revindex": return .int(loop.length - loop.index0)
        case "revindex0": return .int(loop.length - loop.index0 - 1)
        case "first": return .bool(loop.index0 == 0)
        case "last": return .bool(loop.index0 == loop.length - 1)
        case "length": return .int(loop.length)
        case "previtem": return loop.previous
        case "nextitem": return loop.next
        case "depth": return .int(loop.depth0 + 1)
        case "depth0": return .int(loop.depth0)
        case "cycle", "changed": return .method(receiver: .loop(loop), name: name)
        default: return .undefined("'LoopContext object' has no attribute '\(name)'")
        }
    }

    /// `obj[key]`: the item first, then (for a string key) the attribute; never an error.
    static func item(_ value: TemplateValue, _ key: TemplateValue) -> TemplateValue {
        switch (value, key) {
        case (.undefined, _):
            return value
        case (.dict, .string(let name)), (.json(.object), .string(let name)):
            if let found = dictionaryValue(value, name) { return found }
            return attribute(value, name)
        case (.list, _), (.tuple, _), (.json(.array), _), (.string, _):
            if let index = TemplateOperators.integer(key) {
                switch value.expanded {
                case .list(let elements), .tuple(let elements):
                    let position = index < 0 ? elements.count + index : index
                    if position >= 0 && position < elements.count { return elements[position] }
                case .string(let text):
                    let scalars = Array(text.unicodeScalars)
                    let position = index < 0 ? scalars.count + index : index
                    if position >= 0 && position < scalars.count { return .string(String(scalars[position])) }
                default:
                    break
                }
                return .undefined("index \(index) is out of range")
            }
            if case .string(let name) = key { return attribute(value, name) }
        case (.loop, .string(let name)):
            return attribute(value, name)
        case (_, .string(let name)):
            return attribute(value, name)
        default:
            break
        }
        return .undefined("'\(value.typeName) object' has no item")
    }

    /// Python's slicing of lists, tuples and strings.
    static func slice(
        _ value: TemplateValue,
        _ start: TemplateValue?,
        _ stop: TemplateValue?,
        _ step: TemplateValue?
    ) throws(TemplateRuntimeError) -> TemplateValue {
        func bound(_ value: TemplateValue?) throws(TemplateRuntimeError) -> Int? {
            guard let value, !(value.isNoneValue) else { return nil }
            guard let number = TemplateOperators.integer(value) else {
                throw TemplateRuntimeError("slice indices must be integers or None")
            }
            return number
        }
        let stepValue = try bound(step) ?? 1
        guard stepValue != 0 else { throw TemplateRuntimeError("slice step cannot be zero") }
        let startValue = try bound(start)
        let stopValue = try bound(stop)
        func indices(_ count: Int) -> [Int] {
            func clamp(_ index: Int?, _ defaultValue: Int, low: Int, high: Int) -> Int {
                guard var index else { return defaultValue }
                if index < 0 { index += count }
                return min(max(index, low), high)
            }
            var result: [Int] = []
            if stepValue > 0 {
                var index = clamp(startValue, 0, low: 0, high: count)
                let end = clamp(stopValue, count, low: 0, high: count)
                while index < end {
                    result.append(index)
                    index += stepValue
                }
            } else {
                var index = clamp(startValue, count - 1, low: -1, high: count - 1)
                let end = clamp(stopValue, -1, low: -1, high: count - 1)
                while index > end {
                    result.append(index)
                    index += stepValue
                }
            }
            return result
        }
        switch value.expanded {
        case .list(let elements): return .list(indices(elements.count).map { elements[$0] })
        case .tuple(let elements): return .tuple(indices(elements.count).map { elements[$0] })
        case .string(let text):
            let scalars = Array(text.unicodeScalars)
            var result = String.UnicodeScalarView()
            for index in indices(scalars.count) { result.append(scalars[index]) }
            return .string(String(result))
        case .undefined: return value
        default: return .undefined("'\(value.typeName)' object is not subscriptable")
        }
    }

    /// Python's `iter(x)` collected: lists and tuples, a dictionary's keys, a string's characters; an
    /// undefined value is empty.
    static func iterate(_ value: TemplateValue) throws(TemplateRuntimeError) -> [TemplateValue] {
        switch value.expanded {
        case .undefined: return []
        case .list(let elements), .tuple(let elements), .iterator(let elements): return elements
        case .dict(let entries): return entries.map { .string($0.key) }
        case .string(let text): return text.unicodeScalars.map { .string(String($0)) }
        default: throw TemplateRuntimeError("'\(value.typeName)' object is not iterable")
        }
    }
}

extension TemplateValue {
    var isNoneValue: Bool {
        if case .none = self { return true }
        return false
    }
}
