/// Number and text formatting shared by the report renderers and the progress line (no Foundation,
/// so no locale: `.` decimals and `,` thousands separators always).
enum ReportFormat {
    /// `value` rounded to `decimals` places: `fixed(2.345, decimals: 2) == "2.35"`; "-" if not finite.
    static func fixed(_ value: Double, decimals: Int) -> String {
        precondition(decimals >= 0, "decimals are not negative")
        precondition(decimals <= 9, "at most 9 decimals")
        guard value.isFinite else { return "-" }
        var scale: UInt64 = 1
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (abs(value) * Double(scale)).rounded()
        guard scaled < 1.8e19 else { return value < 0 ? "-" + String(abs(value)) : String(value) }
        let units = UInt64(scaled)
        var text = (value < 0 && units != 0 ? "-" : "") + String(units / scale)
        if decimals > 0 {
            let fraction = String(units % scale)
            text += "." + String(repeating: "0", count: decimals - fraction.count) + fraction
        }
        return text
    }

    /// A latency with 3 significant figures and a unit: `850 ns`, `12.3 µs`, `4.56 ms`, `1.20 s`.
    static func latency(_ nanoseconds: UInt64) -> String {
        if nanoseconds < 1_000 { return String(nanoseconds) + " ns" }
        let (value, unit): (Double, String) =
            switch nanoseconds {
            case ..<1_000_000: (Double(nanoseconds) / 1e3, "µs")
            case ..<1_000_000_000: (Double(nanoseconds) / 1e6, "ms")
            default: (Double(nanoseconds) / 1e9, "s")
            }
        let decimals = value < 9.995 ? 2 : (value < 99.95 ? 1 : 0)
        return fixed(value, decimals: decimals) + " " + unit
    }

    /// An axis label: like ``latency(_:)`` but without trailing zeros (`1 µs`, `10 ms`, `2.5 ms`, `0`).
    static func latencyTick(_ nanoseconds: UInt64) -> String {
        if nanoseconds == 0 { return "0" }
        let text = latency(nanoseconds)
        guard let space = text.firstIndex(of: " "), text[..<space].contains(".") else { return text }
        var number = String(text[..<space])
        while number.hasSuffix("0") { number.removeLast() }
        if number.hasSuffix(".") { number.removeLast() }
        return number + text[space...]
    }

    /// `count` per second over `intervalNanoseconds`, rounded; 0 for an empty interval.
    static func rate(_ count: UInt64, _ intervalNanoseconds: UInt64) -> UInt64 {
        guard intervalNanoseconds > 0 else { return 0 }
        return UInt64((Double(count) * 1e9 / Double(intervalNanoseconds)).rounded())
    }

    /// `1234567` → `1,234,567`.
    static func grouped(_ value: UInt64) -> String {
        let digits = Array(String(value))
        var text = ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { text.append(",") }
            text.append(digit)
        }
        return text
    }

    static func padLeft(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
    }

    static func padRight(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }

    /// Text safe inside HTML elements and attribute values.
    static func htmlEscaped(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}
