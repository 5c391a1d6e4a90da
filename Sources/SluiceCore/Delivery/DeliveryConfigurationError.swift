/// A delivery or sink setting is invalid: which field and why.
///
/// `field` is a path into the configuration (`retry.delays[3]`, `faults[2].rate`).
public struct DeliveryConfigurationError: Error, Hashable, Sendable, CustomStringConvertible {
    public var field: String
    public var message: String

    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { "invalid \(field): \(message)" }
}
