/// A UTC instant with microsecond resolution (the resolution of Python's `datetime`, which every
/// Infrahub/Prefect timestamp passes through).
///
/// Pure arithmetic: no clock is read here. Civil-date conversion uses Howard Hinnant's
/// `days_from_civil` / `civil_from_days` algorithms (proleptic Gregorian calendar).
public struct Timestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Microseconds since 1970-01-01T00:00:00Z.
    public var microsecondsSinceEpoch: Int64

    public init(microsecondsSinceEpoch: Int64) { self.microsecondsSinceEpoch = microsecondsSinceEpoch }

    public init(secondsSinceEpoch: Int64, microseconds: Int64 = 0) {
        self.microsecondsSinceEpoch = secondsSinceEpoch * 1_000_000 + microseconds
    }

    public static func < (left: Timestamp, right: Timestamp) -> Bool {
        left.microsecondsSinceEpoch < right.microsecondsSinceEpoch
    }

    /// Whole seconds since the epoch, rounded down (Standard Webhooks' `webhook-timestamp`).
    public var secondsSinceEpoch: Int64 {
        let (quotient, remainder) = microsecondsSinceEpoch.quotientAndRemainder(dividingBy: 1_000_000)
        return remainder < 0 ? quotient - 1 : quotient
    }

    public var description: String { String(decoding: formatted(.prefect), as: UTF8.self) }

    /// The three spellings the wire views use.
    public enum Style: Sendable {
        /// Pydantic's UTC serialization, as in Prefect events: `2025-03-13T16:31:14.566032Z`.
        case prefect
        /// Python `str(datetime)`, Infrahub's webhook `occured_at`: `2025-03-13 16:44:32.321142+00:00`.
        case pythonString
        /// Python `datetime.isoformat()`, GraphQL `occurred_at`: `2025-03-13T16:44:32.321142+00:00`.
        case isoformat
    }

    /// Appends the timestamp in `style`. Fractional seconds are written only when non-zero, as Python does.
    ///
    /// `utcOffsetMinutes` is the offset the time is shown in (minutes east of UTC, as the producer wrote
    /// it: ``EventHeader/occurredUTCOffsetMinutes``): `.pythonString` and `.isoformat` write the civil time
    /// at that offset followed by `±HH:MM`, as Python's `str()`/`isoformat()` of an aware datetime do (an
    /// offset of 0 is `+00:00`, never `-00:00`); `.prefect` is always UTC with `Z` and ignores it.
    /// - Precondition: `utcOffsetMinutes` is within ±1439 (a parsed offset always is).
    public func append(_ style: Style, utcOffsetMinutes: Int = 0, to target: inout [UInt8]) {
        precondition(utcOffsetMinutes > -1440, "UTC offset below -23:59")
        precondition(utcOffsetMinutes < 1440, "UTC offset above +23:59")
        let offsetMinutes = style == .prefect ? 0 : utcOffsetMinutes
        let shifted = Timestamp(microsecondsSinceEpoch: microsecondsSinceEpoch + Int64(offsetMinutes) * 60_000_000)
        let seconds = shifted.secondsSinceEpoch
        let micros = Int(shifted.microsecondsSinceEpoch - seconds * 1_000_000)
        let (days, secondOfDay) = Self.floorDivide(seconds, 86_400)
        let (year, month, day) = Self.civil(fromDays: days)
        appendDigits(year, 4, &target)
        target.append(UInt8(ascii: "-"))
        appendDigits(Int64(month), 2, &target)
        target.append(UInt8(ascii: "-"))
        appendDigits(Int64(day), 2, &target)
        target.append(style == .pythonString ? UInt8(ascii: " ") : UInt8(ascii: "T"))
        appendDigits(secondOfDay / 3600, 2, &target)
        target.append(UInt8(ascii: ":"))
        appendDigits(secondOfDay / 60 % 60, 2, &target)
        target.append(UInt8(ascii: ":"))
        appendDigits(secondOfDay % 60, 2, &target)
        if micros != 0 {
            target.append(UInt8(ascii: "."))
            appendDigits(Int64(micros), 6, &target)
        }
        if style == .prefect {
            target.append(UInt8(ascii: "Z"))
        } else {
            target.append(offsetMinutes < 0 ? UInt8(ascii: "-") : UInt8(ascii: "+"))
            appendDigits(Int64(abs(offsetMinutes) / 60), 2, &target)
            target.append(UInt8(ascii: ":"))
            appendDigits(Int64(abs(offsetMinutes) % 60), 2, &target)
        }
    }

    public func formatted(_ style: Style, utcOffsetMinutes: Int = 0) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        append(style, utcOffsetMinutes: utcOffsetMinutes, to: &bytes)
        return bytes
    }

    public func string(_ style: Style, utcOffsetMinutes: Int = 0) -> String {
        String(decoding: formatted(style, utcOffsetMinutes: utcOffsetMinutes), as: UTF8.self)
    }

    /// Appends `value` in decimal, zero-padded to `width` digits, written in place (no digit array).
    private func appendDigits(_ value: Int64, _ width: Int, _ target: inout [UInt8]) {
        precondition(value >= 0, "negative field in a timestamp")
        var digitCount = 1
        var probe = value / 10
        while probe > 0 {
            digitCount += 1
            probe /= 10
        }
        let total = max(width, digitCount)
        let start = target.count
        target.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: total))
        var remaining = value
        var position = start + total - 1
        while remaining > 0 {
            target[position] = UInt8(ascii: "0") + UInt8(remaining % 10)
            remaining /= 10
            position -= 1
        }
    }

    static func floorDivide(_ value: Int64, _ divisor: Int64) -> (Int64, Int64) {
        let (quotient, remainder) = value.quotientAndRemainder(dividingBy: divisor)
        return remainder < 0 ? (quotient - 1, remainder + divisor) : (quotient, remainder)
    }

    /// Days since 1970-01-01 of a civil date.
    public static func days(fromCivilYear year: Int64, month: Int64, day: Int64) -> Int64 {
        let shiftedYear = month <= 2 ? year - 1 : year
        let era = (shiftedYear >= 0 ? shiftedYear : shiftedYear - 399) / 400
        let yearOfEra = shiftedYear - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    static func civil(fromDays days: Int64) -> (year: Int64, month: Int, day: Int) {
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthPrime = (5 * dayOfYear + 2) / 153
        let day = Int(dayOfYear - (153 * monthPrime + 2) / 5 + 1)
        let month = Int(monthPrime < 10 ? monthPrime + 3 : monthPrime - 9)
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }
}

extension Timestamp {
    /// Parses an RFC 3339 / ISO 8601 date-time: `YYYY-MM-DD[T ]HH:MM:SS[.fraction](Z|±HH:MM)`.
    ///
    /// `t`/`z` in lower case are accepted (RFC 3339 §5.6). Fractions longer than six digits are
    /// truncated to microseconds (Python's resolution). Offsets are applied, so the result is UTC.
    /// - Returns: `nil` when `bytes` is not such a date-time or a field is out of range.
    public static func parse<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> Timestamp? where Bytes.Index == Int {
        parseWithOffset(bytes)?.timestamp
    }

    /// ``parse(_:)``, also returning the UTC offset the text was written in, in minutes east of UTC (`Z`,
    /// `+00:00` and `-00:00` are 0), so the time can be shown again as the producer wrote it (Infrahub's
    /// webhook `occured_at` keeps the event's own offset, spec §b.1).
    ///
    /// Like Python's `datetime`, the year must be in 1...9999, and so must the UTC instant.
    /// - Returns: `nil` when `bytes` is not such a date-time or a field is out of range.
    public static func parseWithOffset<Bytes: Collection<UInt8>>(
        _ bytes: Bytes
    ) -> (timestamp: Timestamp, utcOffsetMinutes: Int16)? where Bytes.Index == Int {
        var cursor = bytes.startIndex
        let end = bytes.endIndex
        func number(_ width: Int) -> Int64? {
            guard cursor + width <= end else { return nil }
            var value: Int64 = 0
            for _ in 0..<width {
                let byte = bytes[cursor]
                guard isDigit(byte) else { return nil }
                value = value * 10 + Int64(byte - UInt8(ascii: "0"))
                cursor += 1
            }
            return value
        }
        func literal(_ expected: UInt8) -> Bool {
            guard cursor < end, bytes[cursor] == expected else { return false }
            cursor += 1
            return true
        }
        guard let year = number(4), literal(UInt8(ascii: "-")), let month = number(2), literal(UInt8(ascii: "-")),
            let day = number(2)
        else { return nil }
        guard cursor < end, [UInt8(ascii: "T"), UInt8(ascii: "t"), UInt8(ascii: " ")].contains(bytes[cursor]) else {
            return nil
        }
        cursor += 1
        guard let hour = number(2), literal(UInt8(ascii: ":")), let minute = number(2), literal(UInt8(ascii: ":")),
            let second = number(2)
        else { return nil }
        var micros: Int64 = 0
        if literal(UInt8(ascii: ".")) {
            var digitCount = 0
            while cursor < end, isDigit(bytes[cursor]) {
                if digitCount < 6 { micros = micros * 10 + Int64(bytes[cursor] - UInt8(ascii: "0")) }
                digitCount += 1
                cursor += 1
            }
            guard digitCount > 0 else { return nil }
            for _ in digitCount..<max(6, digitCount) { micros *= 10 }
        }
        var offsetMinutes: Int64 = 0
        guard cursor < end else { return nil }
        let zone = bytes[cursor]
        if zone == UInt8(ascii: "Z") || zone == UInt8(ascii: "z") {
            cursor += 1
        } else if zone == UInt8(ascii: "+") || zone == UInt8(ascii: "-") {
            cursor += 1
            guard let offsetHour = number(2), literal(UInt8(ascii: ":")), let offsetMinute = number(2),
                offsetHour < 24, offsetMinute < 60
            else { return nil }
            offsetMinutes = (offsetHour * 60 + offsetMinute) * (zone == UInt8(ascii: "-") ? -1 : 1)
        } else {
            return nil
        }
        guard cursor == end else { return nil }
        guard year >= 1, month >= 1, month <= 12, day >= 1, day <= daysInMonth(year: year, month: month),
            hour < 24, minute < 60, second < 60
        else { return nil }
        let days = Self.days(fromCivilYear: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetMinutes * 60
        guard seconds >= Self.secondsMin, seconds <= Self.secondsMax else { return nil }
        assert(offsetMinutes > -1440, "offset fields were range-checked")
        assert(offsetMinutes < 1440, "offset fields were range-checked")
        return (Timestamp(secondsSinceEpoch: seconds, microseconds: micros), Int16(offsetMinutes))
    }

    /// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z in seconds since the epoch: Python's `datetime` range.
    static let secondsMin: Int64 = -62_135_596_800
    static let secondsMax: Int64 = 253_402_300_799

    public static func parse(_ text: String) -> Timestamp? { parse(Array(text.utf8)) }

    static func daysInMonth(year: Int64, month: Int64) -> Int64 {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }
}
