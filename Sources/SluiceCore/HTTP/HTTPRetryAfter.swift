/// A `Retry-After` field value (RFC 9110 §10.2.3): a delay in seconds or an HTTP-date.
public enum HTTPRetryAfter: Hashable, Sendable {
    /// `Retry-After: 120`.
    case seconds(UInt64)
    /// `Retry-After: Wed, 21 Oct 2015 07:28:00 GMT` (any of the three HTTP-date forms).
    case date(Timestamp)
    /// Present but neither form; retry policy ignores it, the driver may log it.
    case invalid

    /// Parses a field value (surrounding whitespace already removed).
    public static func parse<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> HTTPRetryAfter {
        let value = Array(bytes)[...]
        if let seconds = HTTPBytes.parseDecimal(value) { return .seconds(seconds) }
        if let date = HTTPDate.parse(value) { return .date(date) }
        return .invalid
    }

    /// The delay this value asks for, measured from `nowWall` (a date in the past is 0).
    /// - Returns: `nil` for ``invalid``.
    public func delayMicroseconds(nowWall: Timestamp) -> UInt64? {
        switch self {
        case .seconds(let seconds):
            let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000)
            return overflow ? UInt64.max : product
        case .date(let date):
            let difference = date.microsecondsSinceEpoch - nowWall.microsecondsSinceEpoch
            return difference > 0 ? UInt64(difference) : 0
        case .invalid:
            return nil
        }
    }
}

/// HTTP-date (RFC 9110 §5.6.7): IMF-fixdate to write; IMF-fixdate, RFC 850 and asctime to read.
public enum HTTPDate {
    private static let dayNames = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    private static let longDayNames = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    private static let monthNames = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]

    /// `Sun, 06 Nov 1994 08:49:37 GMT` (fractions of a second are dropped).
    public static func format(_ timestamp: Timestamp) -> String {
        let seconds = timestamp.secondsSinceEpoch
        let (days, secondOfDay) = Timestamp.floorDivide(seconds, 86_400)
        let (year, month, day) = Timestamp.civil(fromDays: days)
        // 1970-01-01 was a Thursday (index 3 from Monday).
        let weekday = Int(Timestamp.floorDivide(days + 3, 7).1)
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(dayNames[weekday]), \(two(Int64(day))) \(monthNames[month - 1]) \(year) "
            + "\(two(secondOfDay / 3600)):\(two(secondOfDay / 60 % 60)):\(two(secondOfDay % 60)) GMT"
    }

    /// Parses any of the three forms; the weekday name is checked for form but not against the date.
    /// RFC 850 two-digit years below 70 are 20xx, others 19xx.
    public static func parse(_ bytes: ArraySlice<UInt8>) -> Timestamp? {
        let text = String(decoding: bytes, as: UTF8.self)
        let parts = text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        if parts.count == 6, parts[5] == "GMT", dayNames.contains(String(parts[0].dropLast())), parts[0].last == "," {
            // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
            guard parts[1].count == 2, parts[3].count == 4 else { return nil }
            return make(year: Int64(parts[3]), month: parts[2], day: Int64(parts[1]), time: parts[4])
        }
        if parts.count == 4, parts[3] == "GMT", longDayNames.contains(String(parts[0].dropLast())),
            parts[0].last == ","
        {
            // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
            let dateParts = parts[1].split(separator: "-").map(String.init)
            guard dateParts.count == 3, dateParts[0].count == 2, dateParts[2].count == 2,
                let shortYear = Int64(dateParts[2])
            else { return nil }
            let year = shortYear < 70 ? 2000 + shortYear : 1900 + shortYear
            return make(year: year, month: dateParts[1], day: Int64(dateParts[0]), time: parts[2])
        }
        if parts.count == 5, dayNames.contains(parts[0]) {
            // asctime: Sun Nov  6 08:49:37 1994
            guard parts[2].count <= 2, parts[4].count == 4 else { return nil }
            return make(year: Int64(parts[4]), month: parts[1], day: Int64(parts[2]), time: parts[3])
        }
        return nil
    }

    private static func make(year: Int64?, month monthName: String, day: Int64?, time: String) -> Timestamp? {
        guard let year, let day, let monthIndex = monthNames.firstIndex(of: monthName) else { return nil }
        let month = Int64(monthIndex + 1)
        let timeParts = time.split(separator: ":", omittingEmptySubsequences: false)
        guard timeParts.count == 3, timeParts.allSatisfy({ $0.count == 2 }),
            let hour = Int64(timeParts[0]), let minute = Int64(timeParts[1]), let second = Int64(timeParts[2]),
            hour < 24, minute < 60, second <= 60, day >= 1, day <= Timestamp.daysInMonth(year: year, month: month)
        else { return nil }
        let days = Timestamp.days(fromCivilYear: year, month: month, day: day)
        return Timestamp(secondsSinceEpoch: days * 86_400 + hour * 3600 + minute * 60 + min(second, 59))
    }
}
