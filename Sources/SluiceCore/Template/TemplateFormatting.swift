/// Python's `str()`, `repr()` and `json.dumps` (as Jinja2's `tojson` calls it) for template values.
enum PythonFormat {
    /// Python's `repr(float)`: the shortest text that reads back as the same double, fixed notation for
    /// decimal exponents −4 ..< 16, else `1e+16` / `1.5e-05`.
    static func float(_ value: Double) -> String {
        if value.isNaN { return "nan" }
        if value.isInfinite { return value < 0 ? "-inf" : "inf" }
        if value == 0 { return value.sign == .minus ? "-0.0" : "0.0" }
        // Swift's description is also the shortest round-trip text; take its digits and exponent.
        var text = Substring(value.description)
        var negative = false
        if text.first == "-" {
            negative = true
            text.removeFirst()
        }
        var mantissa = text
        var exponent = 0
        if let marker = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mantissa = text[..<marker]
            exponent = Int(text[text.index(after: marker)...]) ?? 0
        }
        var digits = ""
        var pointPosition = mantissa.count
        if let point = mantissa.firstIndex(of: ".") {
            pointPosition = mantissa.distance(from: mantissa.startIndex, to: point)
            digits = String(mantissa[..<point]) + String(mantissa[mantissa.index(after: point)...])
        } else {
            digits = String(mantissa)
        }
        // Normalize: digits without leading zeros, decimal exponent of the first digit.
        var decimalExponent = pointPosition - 1 + exponent
        while digits.first == "0" && digits.count > 1 {
            digits.removeFirst()
            decimalExponent -= 1
        }
        while digits.last == "0" && digits.count > 1 { digits.removeLast() }
        var result = negative ? "-" : ""
        if decimalExponent >= -4 && decimalExponent < 16 {
            if decimalExponent < 0 {
                result += "0." + String(repeating: "0", count: -decimalExponent - 1) + digits
            } else if digits.count <= decimalExponent + 1 {
                result += digits + String(repeating: "0", count: decimalExponent + 1 - digits.count) + ".0"
            } else {
                let split = digits.index(digits.startIndex, offsetBy: decimalExponent + 1)
                result += digits[..<split] + "." + digits[split...]
            }
        } else {
            result += String(digits.first!)
            if digits.count > 1 { result += "." + digits.dropFirst() }
            let magnitude = abs(decimalExponent)
            result += (decimalExponent < 0 ? "e-" : "e+") + (magnitude < 10 ? "0" : "") + String(magnitude)
        }
        return result
    }

    /// Python's `str(x)`; `nil` for values without a stable printed form (methods, generators).
    static func str(_ value: TemplateValue) -> String? {
        switch value {
        case .undefined: return ""
        case .string(let text): return text
        case .iterator, .method, .function: return nil
        case .loop(let loop): return "<LoopContext \(loop.index0 + 1)/\(loop.length)>"
        default:
            var output = ""
            return repr(value, into: &output) ? output : nil
        }
    }

    /// Python's `repr(x)` appended to `output`; `false` when a part has no stable form.
    static func repr(_ value: TemplateValue, into output: inout String) -> Bool {
        switch value {
        case .undefined: output += "Undefined"
        case .none: output += "None"
        case .bool(let flag): output += flag ? "True" : "False"
        case .int(let number): output += String(number)
        case .bigInteger(let text): output += text
        case .float(let number): output += float(number)
        case .string(let text): reprString(text, into: &output)
        case .list(let elements):
            output += "["
            for (position, element) in elements.enumerated() {
                if position > 0 { output += ", " }
                guard repr(element, into: &output) else { return false }
            }
            output += "]"
        case .tuple(let elements):
            output += "("
            for (position, element) in elements.enumerated() {
                if position > 0 { output += ", " }
                guard repr(element, into: &output) else { return false }
            }
            output += elements.count == 1 ? ",)" : ")"
        case .dict(let entries):
            output += "{"
            for (position, entry) in entries.enumerated() {
                if position > 0 { output += ", " }
                reprString(entry.key, into: &output)
                output += ": "
                guard repr(entry.value, into: &output) else { return false }
            }
            output += "}"
        case .json:
            return repr(value.expanded, into: &output)
        case .loop, .iterator, .method, .function:
            return false
        }
        return true
    }

    /// Python's `repr(str)`: single quotes unless the text has `'` and no `"`.
    static func reprString(_ text: String, into output: inout String) {
        let hasSingle = text.utf8.contains(UInt8(ascii: "'"))
        let hasDouble = text.utf8.contains(UInt8(ascii: "\""))
        let quote: Unicode.Scalar = hasSingle && !hasDouble ? "\"" : "'"
        output.unicodeScalars.append(quote)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case quote: output += "\\" + String(scalar)
            default:
                if isPrintable(scalar) {
                    output.unicodeScalars.append(scalar)
                } else {
                    output += hexEscape(scalar)
                }
            }
        }
        output.unicodeScalars.append(quote)
    }

    /// An approximation of Python's `str.isprintable` per code point: controls, separators other than
    /// the space, surrogates, unassigned and private-use points are not printable.
    static func isPrintable(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.value < 0x20 || (scalar.value >= 0x7F && scalar.value < 0xA0) { return false }
        if scalar.value < 0x7F { return true }
        switch scalar.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned, .lineSeparator, .paragraphSeparator:
            return false
        case .spaceSeparator:
            return scalar.value == 0x20
        default:
            return true
        }
    }

    private static func hexEscape(_ scalar: Unicode.Scalar) -> String {
        let hex = String(scalar.value, radix: 16)
        if scalar.value <= 0xFF { return "\\x" + String(repeating: "0", count: 2 - hex.count) + hex }
        if scalar.value <= 0xFFFF { return "\\u" + String(repeating: "0", count: 4 - hex.count) + hex }
        return "\\U" + String(repeating: "0", count: 8 - hex.count) + hex
    }

    // MARK: - JSON

    enum JSONFailure: Error {
        case notSerializable(String)
    }

    /// Jinja2's `tojson` (as Prefect registers it): `json.dumps(value, sort_keys=True)` — ASCII only,
    /// `", "` and `": "` separators (or `indent`) — then `<`, `>`, `&`, `'` as `\u003c`… (HTML-safe).
    static func toJSON(_ value: TemplateValue, indent: Int?) throws(JSONFailure) -> String {
        var output = ""
        try dumps(value, indent: indent, level: 0, into: &output)
        return output
    }

    private static func dumps(
        _ value: TemplateValue,
        indent: Int?,
        level: Int,
        into output: inout String
    ) throws(JSONFailure) {
        switch value {
        case .none: output += "null"
        case .bool(let flag): output += flag ? "true" : "false"
        case .int(let number): output += String(number)
        case .bigInteger(let text): output += text
        case .float(let number):
            if number.isNaN {
                output += "NaN"
            } else if number.isInfinite {
                output += number < 0 ? "-Infinity" : "Infinity"
            } else {
                output += float(number)
            }
        case .string(let text): jsonString(text, into: &output)
        case .list(let elements), .tuple(let elements), .iterator(let elements):
            if case .iterator = value { throw .notSerializable("generator") }
            try dumpsArray(elements, indent: indent, level: level, into: &output)
        case .dict(let entries):
            let sorted = entries.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
            if sorted.isEmpty {
                output += "{}"
                return
            }
            output += "{"
            for (position, entry) in sorted.enumerated() {
                separator(position, indent: indent, level: level + 1, into: &output)
                jsonString(entry.key, into: &output)
                output += ": "
                try dumps(entry.value, indent: indent, level: level + 1, into: &output)
            }
            closing(indent: indent, level: level, into: &output)
            output += "}"
        case .json:
            try dumps(value.expanded, indent: indent, level: level, into: &output)
        case .undefined, .method, .function, .loop:
            throw .notSerializable(value.typeName)
        }
    }

    private static func dumpsArray(
        _ elements: [TemplateValue],
        indent: Int?,
        level: Int,
        into output: inout String
    ) throws(JSONFailure) {
        if elements.isEmpty {
            output += "[]"
            return
        }
        output += "["
        for (position, element) in elements.enumerated() {
            separator(position, indent: indent, level: level + 1, into: &output)
            try dumps(element, indent: indent, level: level + 1, into: &output)
        }
        closing(indent: indent, level: level, into: &output)
        output += "]"
    }

    private static func separator(_ position: Int, indent: Int?, level: Int, into output: inout String) {
        if let indent {
            if position > 0 { output += "," }
            output += "\n" + String(repeating: " ", count: max(indent, 0) * level)
        } else if position > 0 {
            output += ", "
        }
    }

    private static func closing(indent: Int?, level: Int, into output: inout String) {
        if let indent { output += "\n" + String(repeating: " ", count: max(indent, 0) * level) }
    }

    /// `json.dumps(str)` with `ensure_ascii=True`, then Jinja2's HTML-safe replacements.
    static func jsonString(_ text: String, into output: inout String) {
        output += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case "\u{08}": output += "\\b"
            case "\u{0C}": output += "\\f"
            case "<": output += "\\u003c"
            case ">": output += "\\u003e"
            case "&": output += "\\u0026"
            case "'": output += "\\u0027"
            default:
                if scalar.value >= 0x20 && scalar.value < 0x7F {
                    output.unicodeScalars.append(scalar)
                } else if scalar.value > 0xFFFF {
                    let offset = scalar.value - 0x10000
                    output += unicodeEscape(0xD800 + (offset >> 10)) + unicodeEscape(0xDC00 + (offset & 0x3FF))
                } else {
                    output += unicodeEscape(scalar.value)
                }
            }
        }
        output += "\""
    }

    private static func unicodeEscape(_ value: UInt32) -> String {
        let hex = String(value, radix: 16)
        return "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
    }
}
