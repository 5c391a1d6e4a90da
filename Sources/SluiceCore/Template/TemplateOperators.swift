/// Python's arithmetic and comparison operators on template values (`bool` counts as `int`).
enum TemplateOperators {
    enum Number {
        case int(Int)
        case float(Double)

        var double: Double {
            switch self {
            case .int(let value): return Double(value)
            case .float(let value): return value
            }
        }
    }

    static func numeric(_ value: TemplateValue) -> Number? {
        switch value {
        case .int(let number): return .int(number)
        case .bool(let flag): return .int(flag ? 1 : 0)
        case .float(let number): return .float(number)
        default: return nil
        }
    }

    /// An integer index (`int` or `bool`).
    static func integer(_ value: TemplateValue) -> Int? {
        switch value {
        case .int(let number): return number
        case .bool(let flag): return flag ? 1 : 0
        default: return nil
        }
    }

    static func negate(_ value: TemplateValue) throws(TemplateRuntimeError) -> TemplateValue {
        switch numeric(value) {
        case .int(let number)?:
            let (result, overflow) = Int(0).subtractingReportingOverflow(number)
            if overflow { throw overflowError }
            return .int(result)
        case .float(let number)?: return .float(-number)
        case nil:
            if case .undefined(let hint) = value { throw undefinedError(hint) }
            throw TemplateRuntimeError("bad operand type for unary -: '\(value.typeName)'")
        }
    }

    static let overflowError = TemplateRuntimeError(
        "integer overflow (Python's integers are unbounded; Sluice's are 64-bit)"
    )

    static func undefinedError(_ hint: String) -> TemplateRuntimeError { TemplateRuntimeError(hint) }

    static func binary(
        _ operation: String,
        _ left: TemplateValue,
        _ right: TemplateValue
    ) throws(TemplateRuntimeError)
        -> TemplateValue
    {
        if operation == "~" {
            guard let leftText = PythonFormat.str(left), let rightText = PythonFormat.str(right) else {
                throw TemplateRuntimeError("cannot concatenate a \(left.typeName) and a \(right.typeName)")
            }
            return .string(leftText + rightText)
        }
        if case .undefined(let hint) = left { throw undefinedError(hint) }
        if case .undefined(let hint) = right { throw undefinedError(hint) }
        if let a = numeric(left), let b = numeric(right) {
            return try arithmetic(operation, a, b)
        }
        switch (operation, left.expanded, right.expanded) {
        case ("+", .string(let a), .string(let b)): return .string(a + b)
        case ("+", .list(let a), .list(let b)): return .list(a + b)
        case ("+", .tuple(let a), .tuple(let b)): return .tuple(a + b)
        case ("*", .string(let text), _), ("*", _, .string(let text)):
            guard let count = integer(left) ?? integer(right) else { break }
            let (bytes, overflow) = text.utf8.count.multipliedReportingOverflow(by: max(count, 0))
            guard count <= 1_000_000, !overflow, bytes <= 16_777_216 else {
                throw TemplateRuntimeError("string repetition too large (at most 16 MiB)")
            }
            return .string(String(repeating: text, count: max(count, 0)))
        case ("*", .list(let elements), _), ("*", _, .list(let elements)):
            guard let count = integer(left) ?? integer(right) else { break }
            let (total, overflow) = max(count, 0).multipliedReportingOverflow(by: max(elements.count, 1))
            guard !overflow, total <= 1_000_000 else {
                throw TemplateRuntimeError("list repetition too large")
            }
            return .list(Array([[TemplateValue]](repeating: elements, count: max(count, 0)).joined()))
        default:
            break
        }
        throw TemplateRuntimeError(
            "unsupported operand type(s) for \(operation): '\(left.typeName)' and '\(right.typeName)'"
        )
    }

    private static func arithmetic(
        _ operation: String,
        _ a: Number,
        _ b: Number
    ) throws(TemplateRuntimeError)
        -> TemplateValue
    {
        if case .int(let x) = a, case .int(let y) = b {
            switch operation {
            case "+":
                let (result, overflow) = x.addingReportingOverflow(y)
                if overflow { throw overflowError }
                return .int(result)
            case "-":
                let (result, overflow) = x.subtractingReportingOverflow(y)
                if overflow { throw overflowError }
                return .int(result)
            case "*":
                let (result, overflow) = x.multipliedReportingOverflow(by: y)
                if overflow { throw overflowError }
                return .int(result)
            case "/":
                guard y != 0 else { throw TemplateRuntimeError("division by zero") }
                return .float(Double(x) / Double(y))
            case "//":
                guard y != 0 else { throw TemplateRuntimeError("integer division or modulo by zero") }
                if x == Int.min && y == -1 { throw overflowError }
                var quotient = x / y
                if (x % y != 0) && ((x < 0) != (y < 0)) { quotient -= 1 }
                return .int(quotient)
            case "%":
                guard y != 0 else { throw TemplateRuntimeError("integer division or modulo by zero") }
                if x == Int.min && y == -1 { return .int(0) }
                var remainder = x % y
                if remainder != 0 && ((remainder < 0) != (y < 0)) { remainder += y }
                return .int(remainder)
            case "**":
                if y < 0 { return .float(power(Double(x), Double(y))) }
                var result = 1
                var base = x
                var exponent = y
                while exponent > 0 {
                    if exponent & 1 == 1 {
                        let (product, overflow) = result.multipliedReportingOverflow(by: base)
                        if overflow { throw overflowError }
                        result = product
                    }
                    exponent >>= 1
                    if exponent > 0 {
                        let (square, overflow) = base.multipliedReportingOverflow(by: base)
                        if overflow { throw overflowError }
                        base = square
                    }
                }
                return .int(result)
            default:
                throw TemplateRuntimeError("unknown operator \(operation)")
            }
        }
        let x = a.double
        let y = b.double
        switch operation {
        case "+": return .float(x + y)
        case "-": return .float(x - y)
        case "*": return .float(x * y)
        case "/":
            guard y != 0 else { throw TemplateRuntimeError("float division by zero") }
            return .float(x / y)
        case "//", "%":
            guard y != 0 else { throw TemplateRuntimeError("float floor division by zero") }
            let (quotient, remainder) = floatDivMod(x, y)
            return .float(operation == "//" ? quotient : remainder)
        case "**":
            if x == 0 && y < 0 { throw TemplateRuntimeError("0.0 cannot be raised to a negative power") }
            if x < 0 && y != y.rounded(.towardZero) {
                throw TemplateRuntimeError("a negative number to a fractional power is complex")
            }
            return .float(power(x, y))
        default:
            throw TemplateRuntimeError("unknown operator \(operation)")
        }
    }

    /// CPython's `float_divmod`.
    static func floatDivMod(_ x: Double, _ y: Double) -> (Double, Double) {
        var remainder = x.truncatingRemainder(dividingBy: y)
        var quotient = (x - remainder) / y
        if remainder != 0 {
            if (y < 0) != (remainder < 0) {
                remainder += y
                quotient -= 1
            }
        } else {
            remainder = Double(signOf: y, magnitudeOf: 0)
        }
        var floored: Double
        if quotient != 0 {
            floored = quotient.rounded(.down)
            if quotient - floored > 0.5 { floored += 1 }
        } else {
            floored = Double(signOf: x / y, magnitudeOf: 0)
        }
        return (floored, remainder)
    }

    /// `x ** y` for doubles without Foundation: exact for integral exponents, else `exp(y·log x)`.
    static func power(_ x: Double, _ y: Double) -> Double {
        if y == y.rounded(.towardZero) && abs(y) < 2_147_483_648.0 {
            var result = 1.0
            var base = x
            var exponent = Int(abs(y))
            while exponent > 0 {
                if exponent & 1 == 1 { result *= base }
                base *= base
                exponent >>= 1
            }
            return y < 0 ? 1 / result : result
        }
        return naturalExp(y * naturalLog(x))
    }

    private static func naturalLog(_ x: Double) -> Double {
        guard x > 0 else { return .nan }
        let exponent = x.exponent
        let mantissa = x.significand  // in [1, 2)
        // log(m) by the series of atanh: log(m) = 2·atanh((m−1)/(m+1)).
        let t = (mantissa - 1) / (mantissa + 1)
        var term = t
        var sum = 0.0
        var k = 1.0
        while abs(term / k) > 1e-18 {
            sum += term / k
            term *= t * t
            k += 2
        }
        return 2 * sum + Double(exponent) * 0.693_147_180_559_945_3
    }

    private static func naturalExp(_ x: Double) -> Double {
        if x > 709.8 { return .infinity }
        if x < -745 { return 0 }
        let n = (x / 0.693_147_180_559_945_3).rounded()
        let r = x - n * 0.693_147_180_559_945_3
        var term = 1.0
        var sum = 1.0
        var k = 1.0
        while abs(term) > 1e-18 {
            term *= r / k
            sum += term
            k += 1
        }
        return sum * Double(sign: .plus, exponent: Int(n), significand: 1)
    }

    // MARK: - Comparison

    /// Python's `==`.
    static func equals(_ left: TemplateValue, _ right: TemplateValue) -> Bool {
        if let a = numeric(left), let b = numeric(right) {
            if case .int(let x) = a, case .int(let y) = b { return x == y }
            return a.double == b.double
        }
        switch (left.expanded, right.expanded) {
        case (.undefined, .undefined), (.none, .none): return true
        case (.string(let a), .string(let b)): return a.pythonEquals(b)
        case (.bigInteger(let a), .bigInteger(let b)): return a == b
        case (.list(let a), .list(let b)), (.tuple(let a), .tuple(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { equals($0, $1) }
        case (.dict(let a), .dict(let b)):
            guard a.count == b.count else { return false }
            return a.allSatisfy { entry in
                b.contains { $0.key.pythonEquals(entry.key) && equals($0.value, entry.value) }
            }
        default: return false
        }
    }

    /// Python's ordering (`<`): numbers, strings by code point, lists and tuples lexicographically.
    static func less(_ left: TemplateValue, _ right: TemplateValue) throws(TemplateRuntimeError) -> Bool {
        if let a = numeric(left), let b = numeric(right) {
            if case .int(let x) = a, case .int(let y) = b { return x < y }
            return a.double < b.double
        }
        switch (left.expanded, right.expanded) {
        case (.string(let a), .string(let b)): return a.utf8.lexicographicallyPrecedes(b.utf8)
        case (.list(let a), .list(let b)), (.tuple(let a), .tuple(let b)):
            for (x, y) in zip(a, b) where !equals(x, y) { return try less(x, y) }
            return a.count < b.count
        case (.undefined(let hint), _), (_, .undefined(let hint)):
            throw undefinedError(hint)
        default:
            throw TemplateRuntimeError(
                "'<' not supported between instances of '\(left.typeName)' and '\(right.typeName)'"
            )
        }
    }

    static func compare(
        _ operation: String,
        _ left: TemplateValue,
        _ right: TemplateValue
    ) throws(TemplateRuntimeError)
        -> Bool
    {
        switch operation {
        case "==": return equals(left, right)
        case "!=": return !equals(left, right)
        case "<": return try less(left, right)
        case ">": return try less(right, left)
        case "<=": return try less(left, right) || equals(left, right)
        case ">=": return try less(right, left) || equals(left, right)
        case "in": return try contains(right, left)
        case "notin": return !(try contains(right, left))
        default: throw TemplateRuntimeError("unknown comparison \(operation)")
        }
    }

    /// Python's `element in container`.
    static func contains(_ container: TemplateValue, _ element: TemplateValue) throws(TemplateRuntimeError) -> Bool {
        switch container.expanded {
        case .string(let text):
            guard case .string(let part) = element else {
                throw TemplateRuntimeError("'in <string>' requires string as left operand, not \(element.typeName)")
            }
            return TemplateText.find(part, in: text) != nil
        case .list(let elements), .tuple(let elements), .iterator(let elements):
            return elements.contains { equals($0, element) }
        case .dict(let entries):
            guard case .string(let key) = element else { return false }
            return entries.contains { $0.key.pythonEquals(key) }
        case .undefined:
            return false
        default:
            throw TemplateRuntimeError("argument of type '\(container.typeName)' is not iterable")
        }
    }
}

/// Byte-level string helpers with Python's code-point semantics.
enum TemplateText {
    /// The byte offset of the first occurrence of `part` in `text`.
    static func find(_ part: String, in text: String, from start: Int = 0) -> Int? {
        let haystack = Array(text.utf8)
        let needle = Array(part.utf8)
        if needle.isEmpty { return min(start, haystack.count) }
        guard haystack.count >= needle.count else { return nil }
        var index = start
        while index <= haystack.count - needle.count {
            if haystack[index] == needle[0] && Array(haystack[index..<index + needle.count]) == needle { return index }
            index += 1
        }
        return nil
    }

    /// Python's `str.replace(old, new, count)`.
    static func replace(_ text: String, _ old: String, _ new: String, count: Int = -1) -> String {
        let haystack = Array(text.utf8)
        let needle = Array(old.utf8)
        var result: [UInt8] = []
        var index = 0
        var done = 0
        if needle.isEmpty {
            // Python inserts `new` between every character (and at both ends).
            let scalars = Array(text.unicodeScalars)
            var output = ""
            for scalar in scalars {
                if count < 0 || done < count {
                    output += new
                    done += 1
                }
                output.unicodeScalars.append(scalar)
            }
            if count < 0 || done < count { output += new }
            return output
        }
        while index < haystack.count {
            if (count < 0 || done < count) && index + needle.count <= haystack.count
                && haystack[index..<index + needle.count].elementsEqual(needle)
            {
                result.append(contentsOf: new.utf8)
                index += needle.count
                done += 1
            } else {
                result.append(haystack[index])
                index += 1
            }
        }
        return String(decoding: result, as: UTF8.self)
    }

    /// Python's `str.isspace` per code point.
    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default:
            return false
        }
    }

    /// Python's `str.strip(chars)` (whitespace when `chars` is nil), at the chosen ends.
    static func strip(_ text: String, _ characters: String?, leading: Bool = true, trailing: Bool = true) -> String {
        let set = characters.map { Set($0.unicodeScalars) }
        func stripped(_ scalar: Unicode.Scalar) -> Bool { set.map { $0.contains(scalar) } ?? isWhitespace(scalar) }
        let scalars = Array(text.unicodeScalars)
        var start = 0
        var end = scalars.count
        if leading { while start < end && stripped(scalars[start]) { start += 1 } }
        if trailing { while end > start && stripped(scalars[end - 1]) { end -= 1 } }
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars[start..<end])
        return String(view)
    }

    /// Python's `str.split(sep, maxsplit)`.
    static func split(_ text: String, _ separator: String?, maxSplit: Int = -1) -> [String] {
        guard let separator else {
            var parts: [String] = []
            var current = String.UnicodeScalarView()
            var inWord = false
            var splits = 0
            let scalars = Array(text.unicodeScalars)
            var index = 0
            while index < scalars.count {
                let scalar = scalars[index]
                if isWhitespace(scalar) {
                    if inWord {
                        parts.append(String(current))
                        current = String.UnicodeScalarView()
                        inWord = false
                        splits += 1
                        if maxSplit >= 0 && splits >= maxSplit {
                            // The rest, without its leading whitespace, is the last part.
                            var rest = index
                            while rest < scalars.count && isWhitespace(scalars[rest]) { rest += 1 }
                            if rest < scalars.count {
                                var tail = String.UnicodeScalarView()
                                tail.append(contentsOf: scalars[rest...])
                                parts.append(String(tail))
                            }
                            return parts
                        }
                    }
                } else {
                    current.append(scalar)
                    inWord = true
                }
                index += 1
            }
            if inWord { parts.append(String(current)) }
            return parts
        }
        var parts: [String] = []
        let haystack = Array(text.utf8)
        let needle = Array(separator.utf8)
        var start = 0
        var index = 0
        while index + needle.count <= haystack.count && (maxSplit < 0 || parts.count < maxSplit) {
            if haystack[index..<index + needle.count].elementsEqual(needle) {
                parts.append(String(decoding: haystack[start..<index], as: UTF8.self))
                index += needle.count
                start = index
            } else {
                index += 1
            }
        }
        parts.append(String(decoding: haystack[start...], as: UTF8.self))
        return parts
    }
}
