/// An on-disk structure failed validation: what, and where in the file.
public struct FormatError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case truncated, badMagic, headerChecksumMismatch, payloadChecksumMismatch, unsupportedVersion
            case invalidField
        }
        private let base: Base
        /// Fewer bytes than the structure needs.
        public static let truncated = Code(base: .truncated)
        public static let badMagic = Code(base: .badMagic)
        public static let headerChecksumMismatch = Code(base: .headerChecksumMismatch)
        public static let payloadChecksumMismatch = Code(base: .payloadChecksumMismatch)
        /// Written by a newer format whose minimum reader version is above ours.
        public static let unsupportedVersion = Code(base: .unsupportedVersion)
        /// A field holds an impossible value (after the checksum matched: a writer bug).
        public static let invalidField = Code(base: .invalidField)
        public var description: String { String(describing: base) }
    }

    public var code: Code
    /// Byte position of the structure in its file.
    public var fileOffset: UInt64
    public var message: String
    /// Stored and computed checksums, for checksum mismatches.
    public var storedChecksum: UInt32?
    public var computedChecksum: UInt32?

    public init(
        code: Code,
        fileOffset: UInt64,
        message: String,
        storedChecksum: UInt32? = nil,
        computedChecksum: UInt32? = nil
    ) {
        self.code = code
        self.fileOffset = fileOffset
        self.message = message
        self.storedChecksum = storedChecksum
        self.computedChecksum = computedChecksum
    }

    public var description: String {
        var text = "\(message) (\(code)) at file offset \(fileOffset)"
        if let storedChecksum, let computedChecksum {
            text += ": stored CRC-32C \(hex(storedChecksum)), computed \(hex(computedChecksum))"
        }
        return text
    }

    private func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
    }
}

/// Little-endian field access on raw bytes (never a struct overlay; STYLE 2.6).
extension UnsafeRawBufferPointer {
    @inline(__always)
    func loadLittleEndian<T: FixedWidthInteger>(_ offset: Int, as type: T.Type) -> T {
        precondition(offset >= 0 && offset + MemoryLayout<T>.size <= count, "field out of bounds")
        return T(littleEndian: unsafe loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}

extension Array where Element == UInt8 {
    /// Appends `value` little-endian.
    @inline(__always)
    mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        var littleEndian = value.littleEndian
        unsafe Swift.withUnsafeBytes(of: &littleEndian) { raw in unsafe append(contentsOf: raw) }
    }
}
