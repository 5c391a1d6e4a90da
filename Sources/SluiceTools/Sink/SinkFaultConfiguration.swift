/// A response body the sink sends slowly, to exercise the client's response deadline.
public struct SinkSlowBody: Hashable, Sendable {
    public var byteCount: Int
    public var bytesPerSecond: Int

    public init(byteCount: Int, bytesPerSecond: Int) {
        self.byteCount = byteCount
        self.bytesPerSecond = bytesPerSecond
    }

    /// How many body bytes should have been sent `elapsedNanoseconds` after the head (the driver
    /// sends the difference on each timer tick), never more than ``byteCount``.
    public func byteCountDue(elapsedNanoseconds: UInt64) -> Int {
        let (product, overflow) = elapsedNanoseconds.multipliedReportingOverflow(by: UInt64(bytesPerSecond))
        if overflow { return byteCount }
        return Int(min(UInt64(byteCount), product / 1_000_000_000))
    }

    /// When all bytes are due, in nanoseconds after the head.
    public var durationNanoseconds: UInt64 {
        (UInt64(byteCount) * 1_000_000_000 + UInt64(bytesPerSecond) - 1) / UInt64(bytesPerSecond)
    }
}

/// What the sink does with one request.
public struct SinkResponsePlan: Hashable, Sendable {
    /// Status to answer (ignored when ``reset``).
    public var statusCode: Int
    /// Wait this long before answering (or resetting).
    public var delayMilliseconds: Int
    /// `Retry-After: <seconds>` to send, if any.
    public var retryAfterSeconds: Int?
    /// Reset the connection (RST) instead of answering.
    public var reset: Bool
    /// Send a body of this size at this rate, when set.
    public var slowBody: SinkSlowBody?
    /// Which fault rule chose this plan (`nil`: the default response).
    public var ruleIndex: Int?

    /// The response head for this plan (`Retry-After` when set; `Content-Length` of the slow
    /// body, else 0), for keep-alive or not. The body of a slow plan is `slowBody.byteCount` bytes
    /// of the driver's choosing, paced by ``SinkSlowBody/byteCountDue(elapsedNanoseconds:)``.
    /// - Precondition: not ``reset`` (a reset sends nothing).
    public func appendResponseHead(keepAlive: Bool, to target: inout [UInt8]) throws(HTTPEncodingError) {
        precondition(!reset, "a reset plan has no response")
        var fields: [HTTPHeaderField] = []
        if let retryAfterSeconds { fields.append(HTTPHeaderField("Retry-After", String(retryAfterSeconds))) }
        try HTTPResponseEncoder.appendHead(
            statusCode: statusCode,
            headerFields: fields,
            bodyByteCount: slowBody?.byteCount ?? 0,
            keepAlive: keepAlive,
            to: &target
        )
    }

    public init(
        statusCode: Int,
        delayMilliseconds: Int = 0,
        retryAfterSeconds: Int? = nil,
        reset: Bool = false,
        slowBody: SinkSlowBody? = nil,
        ruleIndex: Int? = nil
    ) {
        self.statusCode = statusCode
        self.delayMilliseconds = delayMilliseconds
        self.retryAfterSeconds = retryAfterSeconds
        self.reset = reset
        self.slowBody = slowBody
        self.ruleIndex = ruleIndex
    }
}

/// Fault injection for `sluice sink`: rules that each apply to a share of requests.
///
/// ```json
/// { "status": 204,
///   "faults": [
///     { "rate": 0.10, "status": 503 },
///     { "rate": 0.05, "status": 429, "retry_after_seconds": 2 },
///     { "rate": 0.20, "delay_ms": 150 },
///     { "rate": 0.01, "reset": true },
///     { "rate": 0.01, "slow_body": { "byte_count": 4096, "bytes_per_second": 512 } } ] }
/// ```
///
/// `status` (default 204) answers requests no rule picks. A `slow_body` rule that inherits a
/// bodyless status (1xx, 204, 304) answers 200; one that names such a status is an error. Each request draws one number and at
/// most one rule applies; rules are tried in order, so their rates must sum to at most 1. A rule's
/// `status` defaults to the top-level one. Unknown fields are errors (typos must not silently
/// disable a fault).
public struct SinkFaultConfiguration: Hashable, Sendable {
    /// One rule: its share of requests in millionths, and the plan it imposes.
    public struct Rule: Hashable, Sendable {
        public var rateMillionths: Int
        public var plan: SinkResponsePlan

        public init(rateMillionths: Int, plan: SinkResponsePlan) {
            self.rateMillionths = rateMillionths
            self.plan = plan
        }
    }

    public var defaultStatusCode: Int
    public var rules: [Rule]

    public init(defaultStatusCode: Int = 204, rules: [Rule] = []) {
        self.defaultStatusCode = defaultStatusCode
        self.rules = rules
    }

    /// Chooses the plan for one request with one draw from `random`.
    public func decide(random: inout some RandomNumberGenerator) -> SinkResponsePlan {
        let draw = Int(UInt64.random(in: 0..<1_000_000, using: &random))
        var cumulative = 0
        for rule in rules {
            cumulative += rule.rateMillionths
            if draw < cumulative { return rule.plan }
        }
        return SinkResponsePlan(statusCode: defaultStatusCode)
    }
}

extension SinkFaultConfiguration {
    static let topLevelKeys: Set<String> = ["status", "faults"]
    static let ruleKeys: Set<String> = ["rate", "status", "delay_ms", "retry_after_seconds", "reset", "slow_body"]

    /// Reads the configuration from JSON.
    /// - Throws: ``DeliveryConfigurationError`` naming the field (`faults[1].rate`).
    public init(json: JSONValue) throws(DeliveryConfigurationError) {
        let object = try Self.object(json, field: "sink", keys: Self.topLevelKeys)
        defaultStatusCode = try Self.integer(object["status"], field: "status", in: 100...999) ?? 204
        rules = []
        guard let faults = object["faults"] else { return }
        guard let elements = faults.arrayValue else {
            throw DeliveryConfigurationError(field: "faults", message: "must be an array")
        }
        var total = 0
        for (position, element) in elements.enumerated() {
            let rule = try Self.rule(
                element,
                field: "faults[\(position)]",
                index: position,
                defaultStatus: defaultStatusCode
            )
            total += rule.rateMillionths
            guard total <= 1_000_000 else {
                throw DeliveryConfigurationError(field: "faults[\(position)].rate", message: "rates sum to more than 1")
            }
            rules.append(rule)
        }
    }

    /// Reads the configuration from JSON text. - Throws: field `sink` for JSON syntax errors.
    public init(jsonBytes: [UInt8]) throws(DeliveryConfigurationError) {
        let json: JSONValue
        do {
            json = try JSONValue.parse(jsonBytes)
        } catch {
            throw DeliveryConfigurationError(field: "sink", message: error.description)
        }
        try self.init(json: json)
    }

    private static func rule(
        _ json: JSONValue,
        field: String,
        index: Int,
        defaultStatus: Int
    ) throws(DeliveryConfigurationError) -> Rule {
        let object = try object(json, field: field, keys: ruleKeys)
        guard let rateValue = object["rate"] else {
            throw DeliveryConfigurationError(field: "\(field).rate", message: "required, a number in 0...1")
        }
        guard case .number(let text) = rateValue, let rate = Double(text), rate >= 0, rate <= 1 else {
            throw DeliveryConfigurationError(field: "\(field).rate", message: "must be a number in 0...1")
        }
        var plan = SinkResponsePlan(
            statusCode: try integer(object["status"], field: "\(field).status", in: 100...999) ?? defaultStatus
        )
        plan.ruleIndex = index
        plan.delayMilliseconds = try integer(object["delay_ms"], field: "\(field).delay_ms", in: 0...600_000) ?? 0
        plan.retryAfterSeconds = try integer(
            object["retry_after_seconds"],
            field: "\(field).retry_after_seconds",
            in: 0...86_400
        )
        if let reset = object["reset"] {
            guard let value = reset.boolValue else {
                throw DeliveryConfigurationError(field: "\(field).reset", message: "must be true or false")
            }
            plan.reset = value
        }
        if let slowBody = object["slow_body"] {
            let slowField = "\(field).slow_body"
            let slowObject = try Self.object(slowBody, field: slowField, keys: ["byte_count", "bytes_per_second"])
            guard
                let byteCount = try integer(
                    slowObject["byte_count"],
                    field: "\(slowField).byte_count",
                    in: 1...(64 << 20)
                ),
                let rate = try integer(
                    slowObject["bytes_per_second"],
                    field: "\(slowField).bytes_per_second",
                    in: 1...(1 << 30)
                )
            else {
                throw DeliveryConfigurationError(field: slowField, message: "needs byte_count and bytes_per_second")
            }
            let hasBody = plan.statusCode >= 200 && plan.statusCode != 204 && plan.statusCode != 304
            if !hasBody {
                // An inherited bodyless status (the default 204) becomes 200 so the body can be sent;
                // a bodyless status written in the rule itself contradicts the slow body.
                guard object["status"] == nil else {
                    throw DeliveryConfigurationError(field: slowField, message: "status \(plan.statusCode) has no body")
                }
                plan.statusCode = 200
            }
            plan.slowBody = SinkSlowBody(byteCount: byteCount, bytesPerSecond: rate)
        }
        return Rule(rateMillionths: Int((rate * 1_000_000).rounded()), plan: plan)
    }

    private static func object(
        _ json: JSONValue,
        field: String,
        keys: Set<String>
    ) throws(DeliveryConfigurationError) -> JSONObject {
        guard let object = json.objectValue else {
            throw DeliveryConfigurationError(field: field, message: "must be an object")
        }
        for key in object.keys where !keys.contains(key) {
            let prefix = field == "sink" ? "" : "\(field)."
            throw DeliveryConfigurationError(
                field: "\(prefix)\(key)",
                message: "unknown field (expected one of \(keys.sorted().joined(separator: ", ")))"
            )
        }
        return object
    }

    private static func integer(
        _ json: JSONValue?,
        field: String,
        in range: ClosedRange<Int>
    ) throws(DeliveryConfigurationError) -> Int? {
        guard let json else { return nil }
        guard let value = json.int64Value, let integer = Int(exactly: value), range.contains(integer) else {
            throw DeliveryConfigurationError(
                field: field,
                message: "must be an integer in \(range.lowerBound)...\(range.upperBound)"
            )
        }
        return integer
    }
}
