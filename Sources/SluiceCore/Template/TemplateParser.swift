/// An expression, as Jinja2's parser builds it (precedence and associativity included).
indirect enum TemplateExpression: Sendable {
    case constant(TemplateValue)
    case name(String)
    case list([TemplateExpression])
    case tuple([TemplateExpression])
    case dict([(TemplateExpression, TemplateExpression)])
    case attribute(TemplateExpression, String)
    case item(TemplateExpression, TemplateExpression)
    case slice(TemplateExpression, TemplateExpression?, TemplateExpression?, TemplateExpression?)
    case call(TemplateExpression, TemplateArguments)
    case filter(TemplateExpression, String, TemplateArguments, offset: Int)
    case test(TemplateExpression, String, TemplateArguments, negated: Bool, offset: Int)
    case negative(TemplateExpression)
    case positive(TemplateExpression)
    case not(TemplateExpression)
    case binary(String, TemplateExpression, TemplateExpression)
    case and(TemplateExpression, TemplateExpression)
    case or(TemplateExpression, TemplateExpression)
    case compare(TemplateExpression, [(String, TemplateExpression)])
    case condition(test: TemplateExpression, then: TemplateExpression, otherwise: TemplateExpression?)
}

struct TemplateArguments: Sendable {
    var positional: [TemplateExpression] = []
    var keywords: [(String, TemplateExpression)] = []
}

/// A statement of the template body.
indirect enum TemplateNode: Sendable {
    case text(String)
    case output(TemplateExpression, offset: Int)
    case conditional([(TemplateExpression, [TemplateNode])], otherwise: [TemplateNode], offset: Int)
    case loop(
        targets: [String],
        iterable: TemplateExpression,
        filter: TemplateExpression?,
        body: [TemplateNode],
        otherwise: [TemplateNode],
        offset: Int
    )
    case assign(targets: [String], TemplateExpression, offset: Int)
    case assignBlock(target: String, body: [TemplateNode], offset: Int)
}

/// Jinja2 3.1's parser for the statements Sluice supports: `if`/`elif`/`else`, `for` (with `if` filter
/// and `else`), `set` (expression and block form) and `raw` (in the lexer). Others (`macro`, `include`,
/// `extends`, `with`, `filter`, `call`, `do`) are load-time errors naming the tag.
struct TemplateParser {
    private let tokens: [TemplateToken]
    private var position = 0
    /// `for` statements seen, and the deepest nesting (Prefect refuses more than 10, or deeper than 2).
    private(set) var loopCount = 0
    private(set) var loopDepthMax = 0
    private var loopDepth = 0

    static func parse(_ source: String) throws(TemplateSyntaxError) -> (nodes: [TemplateNode], loops: Int, depth: Int) {
        var parser = TemplateParser(tokens: try TemplateLexer.tokenize(source))
        let nodes = try parser.body(until: [])
        return (nodes, parser.loopCount, parser.loopDepthMax)
    }

    private init(tokens: [TemplateToken]) { self.tokens = tokens }

    private var current: TemplateToken { tokens[position] }

    private mutating func advance() -> TemplateToken {
        let token = tokens[position]
        if position < tokens.count - 1 { position += 1 }
        return token
    }

    private func isSymbol(_ symbol: String) -> Bool {
        if case .symbol(let text) = current.kind { return text == symbol }
        return false
    }

    private func isName(_ name: String) -> Bool {
        if case .name(let text) = current.kind { return text == name }
        return false
    }

    private mutating func skipSymbol(_ symbol: String) -> Bool {
        guard isSymbol(symbol) else { return false }
        _ = advance()
        return true
    }

    private mutating func skipName(_ name: String) -> Bool {
        guard isName(name) else { return false }
        _ = advance()
        return true
    }

    private func describe(_ token: TemplateToken) -> String {
        switch token.kind {
        case .text: return "template data"
        case .variableBegin: return "begin of print statement"
        case .variableEnd: return "end of print statement"
        case .blockBegin: return "begin of statement block"
        case .blockEnd: return "end of statement block"
        case .name(let name): return "'\(name)'"
        case .integer(let value): return "'\(value)'"
        case .float(let value): return "'\(value)'"
        case .string: return "string"
        case .symbol(let symbol): return "'\(symbol)'"
        case .end: return "end of template"
        }
    }

    private func fail(_ message: String) -> TemplateSyntaxError {
        TemplateSyntaxError(offset: current.offset, message: message)
    }

    private mutating func expectSymbol(_ symbol: String) throws(TemplateSyntaxError) {
        guard skipSymbol(symbol) else { throw fail("expected token '\(symbol)', got \(describe(current))") }
    }

    private mutating func expectBlockEnd() throws(TemplateSyntaxError) {
        guard case .blockEnd = current.kind else {
            throw fail("expected token 'end of statement block', got \(describe(current))")
        }
        _ = advance()
    }

    private mutating func expectName() throws(TemplateSyntaxError) -> String {
        guard case .name(let name) = current.kind else { throw fail("expected a name, got \(describe(current))") }
        _ = advance()
        return name
    }

    // MARK: - Statements

    /// Nodes until a block whose tag is in `ends` (left unconsumed after `{%`), or the end.
    private mutating func body(until ends: Set<String>) throws(TemplateSyntaxError) -> [TemplateNode] {
        var nodes: [TemplateNode] = []
        while true {
            let token = current
            switch token.kind {
            case .end:
                if !ends.isEmpty {
                    throw TemplateSyntaxError(
                        offset: token.offset,
                        message:
                            "unexpected end of template; Jinja was looking for one of: \(ends.sorted().map { "'\($0)'" }.joined(separator: ", "))"
                    )
                }
                return nodes
            case .text(let text):
                _ = advance()
                nodes.append(.text(text))
            case .variableBegin:
                _ = advance()
                let expression = try tuple()
                guard case .variableEnd = current.kind else {
                    throw fail("expected token 'end of print statement', got \(describe(current))")
                }
                _ = advance()
                nodes.append(.output(expression, offset: token.offset))
            case .blockBegin:
                let next = tokens[position + 1]
                guard case .name(let tag) = next.kind else {
                    throw TemplateSyntaxError(offset: next.offset, message: "tag name expected")
                }
                if ends.contains(tag) {
                    _ = advance()
                    return nodes
                }
                _ = advance()
                _ = advance()
                nodes.append(try statement(tag, offset: token.offset, nameOffset: next.offset))
            default:
                throw fail("unexpected \(describe(token))")
            }
        }
    }

    private mutating func statement(
        _ tag: String,
        offset: Int,
        nameOffset: Int
    ) throws(TemplateSyntaxError) -> TemplateNode {
        switch tag {
        case "if": return try conditional(offset: offset)
        case "for": return try loop(offset: offset)
        case "set": return try assignment(offset: offset)
        case "elif", "else", "endif", "endfor", "endset":
            throw TemplateSyntaxError(offset: nameOffset, message: "encountered unknown tag '\(tag)'")
        default:
            throw TemplateSyntaxError(
                offset: nameOffset,
                message: "the tag '\(tag)' is not supported (Sluice templates support if, for, set and raw)"
            )
        }
    }

    private mutating func conditional(offset: Int) throws(TemplateSyntaxError) -> TemplateNode {
        var branches: [(TemplateExpression, [TemplateNode])] = []
        var condition = try tuple(withCondition: false)
        while true {
            try expectBlockEnd()
            let nodes = try body(until: ["elif", "else", "endif"])
            branches.append((condition, nodes))
            let tag = try expectName()
            if tag == "elif" {
                condition = try tuple(withCondition: false)
                continue
            }
            if tag == "else" {
                try expectBlockEnd()
                let otherwise = try body(until: ["endif"])
                _ = try expectName()
                try expectBlockEnd()
                return .conditional(branches, otherwise: otherwise, offset: offset)
            }
            try expectBlockEnd()
            return .conditional(branches, otherwise: [], offset: offset)
        }
    }

    private mutating func loop(offset: Int) throws(TemplateSyntaxError) -> TemplateNode {
        loopCount += 1
        loopDepth += 1
        loopDepthMax = max(loopDepthMax, loopDepth)
        defer { loopDepth -= 1 }
        var targets = [try expectName()]
        while skipSymbol(",") {
            if isName("in") { break }
            targets.append(try expectName())
        }
        guard skipName("in") else { throw fail("expected token 'in', got \(describe(current))") }
        let iterable = try tuple(withCondition: false, explicitParentheses: false)
        var filter: TemplateExpression?
        if skipName("if") { filter = try expression() }
        if isName("recursive") { throw fail("recursive loops are not supported") }
        try expectBlockEnd()
        let body = try body(until: ["endfor", "else"])
        var otherwise: [TemplateNode] = []
        if try expectName() == "else" {
            try expectBlockEnd()
            otherwise = try self.body(until: ["endfor"])
            _ = try expectName()
        }
        try expectBlockEnd()
        return .loop(
            targets: targets,
            iterable: iterable,
            filter: filter,
            body: body,
            otherwise: otherwise,
            offset: offset
        )
    }

    private mutating func assignment(offset: Int) throws(TemplateSyntaxError) -> TemplateNode {
        var targets = [try expectName()]
        if isSymbol(".") { throw fail("attribute assignment (namespace) is not supported") }
        while skipSymbol(",") { targets.append(try expectName()) }
        if skipSymbol("=") {
            let value = try tuple()
            try expectBlockEnd()
            return .assign(targets: targets, value, offset: offset)
        }
        guard targets.count == 1 else { throw fail("expected token '=', got \(describe(current))") }
        if isSymbol("|") { throw fail("filters on a block set are not supported") }
        try expectBlockEnd()
        let nodes = try body(until: ["endset"])
        _ = try expectName()
        try expectBlockEnd()
        return .assignBlock(target: targets[0], body: nodes, offset: offset)
    }

    // MARK: - Expressions

    /// Jinja's `parse_tuple`: one expression, or a tuple of comma-separated ones without parentheses.
    private mutating func tuple(
        withCondition: Bool = true,
        explicitParentheses: Bool = false
    ) throws(TemplateSyntaxError) -> TemplateExpression {
        var items: [TemplateExpression] = []
        var isTuple = false
        while true {
            if !items.isEmpty { try expectSymbol(",") }
            if tupleEnds() { break }
            items.append(withCondition ? try expression() : try or())
            if isSymbol(",") { isTuple = true } else { break }
        }
        if !isTuple {
            if let only = items.first { return only }
            if !explicitParentheses { throw fail("expected an expression, got \(describe(current))") }
        }
        return .tuple(items)
    }

    /// Jinja's `is_tuple_end`.
    private func tupleEnds() -> Bool {
        switch current.kind {
        case .variableEnd, .blockEnd, .end: return true
        case .symbol(let symbol): return symbol == ")"
        default: return false
        }
    }

    private mutating func expression() throws(TemplateSyntaxError) -> TemplateExpression {
        var expression = try or()
        while skipName("if") {
            let test = try or()
            var otherwise: TemplateExpression?
            if skipName("else") { otherwise = try self.expression() }
            expression = .condition(test: test, then: expression, otherwise: otherwise)
        }
        return expression
    }

    private mutating func or() throws(TemplateSyntaxError) -> TemplateExpression {
        var left = try and()
        while skipName("or") { left = .or(left, try and()) }
        return left
    }

    private mutating func and() throws(TemplateSyntaxError) -> TemplateExpression {
        var left = try not()
        while skipName("and") { left = .and(left, try not()) }
        return left
    }

    private mutating func not() throws(TemplateSyntaxError) -> TemplateExpression {
        if isName("not") {
            _ = advance()
            return .not(try not())
        }
        return try compare()
    }

    private mutating func compare() throws(TemplateSyntaxError) -> TemplateExpression {
        let left = try math1()
        var operations: [(String, TemplateExpression)] = []
        while true {
            if case .symbol(let symbol) = current.kind, ["==", "!=", "<", ">", "<=", ">="].contains(symbol) {
                _ = advance()
                operations.append((symbol, try math1()))
            } else if skipName("in") {
                operations.append(("in", try math1()))
            } else if isName("not"), case .name("in") = tokens[position + 1].kind {
                _ = advance()
                _ = advance()
                operations.append(("notin", try math1()))
            } else {
                break
            }
        }
        return operations.isEmpty ? left : .compare(left, operations)
    }

    private mutating func math1() throws(TemplateSyntaxError) -> TemplateExpression {
        var left = try concat()
        while case .symbol(let symbol) = current.kind, symbol == "+" || symbol == "-" {
            _ = advance()
            left = .binary(symbol, left, try concat())
        }
        return left
    }

    private mutating func concat() throws(TemplateSyntaxError) -> TemplateExpression {
        var left = try math2()
        while skipSymbol("~") { left = .binary("~", left, try math2()) }
        return left
    }

    private mutating func math2() throws(TemplateSyntaxError) -> TemplateExpression {
        var left = try pow()
        while case .symbol(let symbol) = current.kind, ["*", "/", "//", "%"].contains(symbol) {
            _ = advance()
            left = .binary(symbol, left, try pow())
        }
        return left
    }

    private mutating func pow() throws(TemplateSyntaxError) -> TemplateExpression {
        var left = try unary()
        while skipSymbol("**") { left = .binary("**", left, try unary()) }
        return left
    }

    private mutating func unary(withFilter: Bool = true) throws(TemplateSyntaxError) -> TemplateExpression {
        var node: TemplateExpression
        if skipSymbol("-") {
            node = .negative(try unary(withFilter: false))
        } else if skipSymbol("+") {
            node = .positive(try unary(withFilter: false))
        } else {
            node = try primary()
        }
        node = try postfix(node)
        if withFilter { node = try filterExpression(node) }
        return node
    }

    private mutating func primary() throws(TemplateSyntaxError) -> TemplateExpression {
        let token = advance()
        switch token.kind {
        case .name(let name):
            switch name {
            case "true", "True": return .constant(.bool(true))
            case "false", "False": return .constant(.bool(false))
            case "none", "None": return .constant(.none)
            default: return .name(name)
            }
        case .string(var text):
            while case .string(let more) = current.kind {
                text += more
                _ = advance()
            }
            return .constant(.string(text))
        case .integer(let value): return .constant(.int(value))
        case .float(let value): return .constant(.float(value))
        case .symbol("("):
            let inner = try tuple(explicitParentheses: true)
            try expectSymbol(")")
            return inner
        case .symbol("["):
            var items: [TemplateExpression] = []
            while !isSymbol("]") {
                if !items.isEmpty { try expectSymbol(",") }
                if isSymbol("]") { break }
                items.append(try expression())
            }
            try expectSymbol("]")
            return .list(items)
        case .symbol("{"):
            var items: [(TemplateExpression, TemplateExpression)] = []
            while !isSymbol("}") {
                if !items.isEmpty { try expectSymbol(",") }
                if isSymbol("}") { break }
                let key = try expression()
                try expectSymbol(":")
                items.append((key, try expression()))
            }
            try expectSymbol("}")
            return .dict(items)
        default:
            throw TemplateSyntaxError(offset: token.offset, message: "unexpected \(describe(token))")
        }
    }

    private mutating func postfix(_ base: TemplateExpression) throws(TemplateSyntaxError) -> TemplateExpression {
        var node = base
        while true {
            if isSymbol(".") || isSymbol("[") {
                node = try subscription(node)
            } else if isSymbol("(") {
                node = .call(node, try callArguments())
            } else {
                return node
            }
        }
    }

    private mutating func filterExpression(_ base: TemplateExpression) throws(TemplateSyntaxError) -> TemplateExpression
    {
        var node = base
        while true {
            if isSymbol("|") {
                node = try filter(node)
            } else if isName("is") {
                node = try test(node)
            } else if isSymbol("(") {
                node = .call(node, try callArguments())
            } else {
                return node
            }
        }
    }

    private mutating func subscription(_ base: TemplateExpression) throws(TemplateSyntaxError) -> TemplateExpression {
        let token = advance()
        if case .symbol(".") = token.kind {
            let attribute = advance()
            switch attribute.kind {
            case .name(let name): return .attribute(base, name)
            case .integer(let value): return .item(base, .constant(.int(value)))
            default: throw TemplateSyntaxError(offset: attribute.offset, message: "expected name or number")
            }
        }
        var arguments: [TemplateExpression] = []
        while !isSymbol("]") {
            if !arguments.isEmpty { try expectSymbol(",") }
            arguments.append(try subscribed())
        }
        try expectSymbol("]")
        if arguments.count == 1 { return arguments[0].asSubscriptOf(base) }
        return .item(base, .tuple(arguments))
    }

    /// One subscript: an expression or a slice `a:b:c` (as `.slice` with a placeholder base).
    private mutating func subscribed() throws(TemplateSyntaxError) -> TemplateExpression {
        var parts: [TemplateExpression?] = []
        if isSymbol(":") {
            _ = advance()
            parts = [nil]
        } else {
            let first = try expression()
            guard skipSymbol(":") else { return first }
            parts = [first]
        }
        if isSymbol("]") || isSymbol(",") {
            parts.append(nil)
        } else if !isSymbol(":") {
            parts.append(try expression())
        } else {
            parts.append(nil)
        }
        if skipSymbol(":") {
            if isSymbol("]") || isSymbol(",") { parts.append(nil) } else { parts.append(try expression()) }
        } else {
            parts.append(nil)
        }
        return .slice(.constant(.none), parts[0], parts[1], parts[2])
    }

    private mutating func callArguments() throws(TemplateSyntaxError) -> TemplateArguments {
        try expectSymbol("(")
        var arguments = TemplateArguments()
        while !isSymbol(")") {
            if !arguments.positional.isEmpty || !arguments.keywords.isEmpty { try expectSymbol(",") }
            if isSymbol(")") { break }
            if isSymbol("*") || isSymbol("**") { throw fail("*args and **kwargs in calls are not supported") }
            if case .name(let name) = current.kind, case .symbol("=") = tokens[position + 1].kind {
                _ = advance()
                _ = advance()
                arguments.keywords.append((name, try expression()))
            } else {
                if !arguments.keywords.isEmpty { throw fail("positional argument after keyword argument") }
                arguments.positional.append(try expression())
            }
        }
        try expectSymbol(")")
        return arguments
    }

    private mutating func dottedName() throws(TemplateSyntaxError) -> String {
        var name = try expectName()
        while isSymbol("."), case .name(let part) = tokens[position + 1].kind {
            _ = advance()
            _ = advance()
            name += "." + part
        }
        return name
    }

    private mutating func filter(_ base: TemplateExpression) throws(TemplateSyntaxError) -> TemplateExpression {
        _ = advance()
        let offset = current.offset
        let name = try dottedName()
        let arguments = isSymbol("(") ? try callArguments() : TemplateArguments()
        return .filter(base, name, arguments, offset: offset)
    }

    private mutating func test(_ base: TemplateExpression) throws(TemplateSyntaxError) -> TemplateExpression {
        _ = advance()
        let negated = skipName("not")
        let offset = current.offset
        let name = try dottedName()
        var arguments = TemplateArguments()
        if isSymbol("(") {
            arguments = try callArguments()
        } else {
            switch current.kind {
            case .name(let word) where !["else", "or", "and"].contains(word):
                if word == "is" { throw fail("You cannot chain multiple tests with is") }
                arguments.positional = [try postfix(try primary())]
            case .string, .integer, .float, .symbol("["), .symbol("{"):
                arguments.positional = [try postfix(try primary())]
            default:
                break
            }
        }
        return .test(base, name, arguments, negated: negated, offset: offset)
    }
}

extension TemplateExpression {
    fileprivate func asSubscriptOf(_ base: TemplateExpression) -> TemplateExpression {
        if case .slice(_, let start, let stop, let step) = self { return .slice(base, start, stop, step) }
        return .item(base, self)
    }
}
