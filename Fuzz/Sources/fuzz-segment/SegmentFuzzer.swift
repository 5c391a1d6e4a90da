import FuzzSupport
import Sluice
import SluiceCore
import SluiceStorage

#if canImport(Glibc)
import Glibc
#endif

/// Segment files as a damaged or hostile disk gives them: the segment header, frame headers, LZ4
/// blocks and records, in memory (``SegmentHeader``, ``FrameHeader``, ``FramePayload``) and through the
/// storage reader on a real file (``SegmentReader``, and ``LogFiles/forEachRecord`` with a sparse index
/// file beside the segment, as `sluice log dump --from` reads it).
///
/// Input: byte 0 is the mode —
/// - bit 0: recompute every checksum (segment header, frame headers, payloads) before reading, so the
///   fuzzer gets past the CRC-32C gates into field checks, LZ4 and records;
/// - bit 1: prepend a valid 64-byte segment header (the data is then frames only);
/// - bit 2: an index file: byte 1 is its entry count n, the next 32·n bytes its entries (a valid
///   `SLIX` header is written before them);
/// - bits 3–7: `fromSequence` for the log read (0–31).
/// The rest is the segment file.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    var input = FuzzInput(start, count)
    let mode = input.byte()
    var indexEntries: [UInt8]? = nil
    if mode & 4 != 0 {
        let entryCount = Int(input.byte())
        var entries: [UInt8] = []
        for _ in 0..<(entryCount * SegmentIndex.entryByteCount) { entries.append(input.byte()) }
        indexEntries = entries
    }
    var file: [UInt8] = []
    if mode & 2 != 0 { SegmentHeader(firstSequence: 0, createdMicroseconds: 0).encode(into: &file) }
    file += input.rest()
    if mode & 1 != 0 { fixChecksums(&file) }

    walkInMemory(file)

    let directory = ScratchFile.directory + "/log"
    if access(directory, F_OK) != 0 { mkdir(directory, 0o700) }
    let segmentName = SegmentFileName.name(firstSequence: 0)
    let segmentPath = ScratchFile.write(file, name: "log/" + segmentName)
    let indexPath = SegmentIndex.path(forSegment: segmentPath)
    if let indexEntries {
        var index = Array("SLIX".utf8) + [1, 0, 0, 0]
        index += [UInt8](repeating: 0, count: 8)  // the segment's first sequence, 0
        let indexName = String(segmentName.dropLast(SegmentFileName.suffix.count)) + SegmentIndex.suffix
        _ = ScratchFile.write(index + indexEntries, name: "log/" + indexName)
    } else {
        unlink(indexPath)
    }

    readWithSegmentReader(segmentPath)
    let fromSequence = UInt64(mode >> 3)
    var decoder = EventDecoder()
    _ = try? LogFiles.forEachRecord(directory: directory, fromSequence: fromSequence) { record in
        fuzzRequire(record.sequence >= fromSequence, "record \(record.sequence) before fromSequence \(fromSequence)")
        if record.type == .event { _ = try? decoder.decode(record.body) }
    }
    return 0
}

/// Makes every checksum right: the segment header's, then per frame the payload's and the header's
/// (frames are found by their stored byte counts; a frame running past the end keeps its payload checksum).
func fixChecksums(_ file: inout [UInt8]) {
    func crc(_ range: Range<Int>) -> UInt32 {
        file.withUnsafeBytes { raw in CRC32C.update(0, UnsafeRawBufferPointer(rebasing: raw[range])) }
    }
    func store(_ value: UInt32, at index: Int) {
        for byte in 0..<4 { file[index + byte] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(byte))) }
    }
    guard file.count >= SegmentHeader.byteCount else { return }
    store(crc(0..<60), at: 60)
    var position = SegmentHeader.byteCount
    while position + FrameHeader.byteCount <= file.count {
        var stored = 0
        for byte in 0..<4 { stored |= Int(file[position + 20 + byte]) << (8 * byte) }
        let payloadStart = position + FrameHeader.byteCount
        if stored <= file.count - payloadStart { store(crc(payloadStart..<(payloadStart + stored)), at: position + 28) }
        store(crc(position..<(position + 52)), at: position + 52)
        guard stored <= file.count - payloadStart else { return }
        position = payloadStart + stored
    }
}

/// The pure decoders on the bytes: segment header, then frame after frame (uncompressed payloads' records).
func walkInMemory(_ file: [UInt8]) {
    guard (try? SegmentHeader.decode(file)) != nil else { return }
    file.withUnsafeBytes { raw in
        var position = SegmentHeader.byteCount
        while position < raw.count {
            let rest = UnsafeRawBufferPointer(rebasing: raw[position...])
            guard let header = try? FrameHeader.decode(rest, fileOffset: UInt64(position)) else { return }
            let payloadStart = position + FrameHeader.byteCount
            guard Int(header.storedByteCount) <= raw.count - payloadStart else { return }
            let payloadEnd = payloadStart + Int(header.storedByteCount)
            if header.compression == .none {
                var recordCount: UInt32 = 0
                let payload = UnsafeRawBufferPointer(rebasing: raw[payloadStart..<payloadEnd])
                let walked: Void? = try? FramePayload.forEachRecord(
                    in: payload,
                    header: header,
                    fileOffset: UInt64(position)
                ) { record in
                    fuzzRequire(
                        record.bodyRange.lowerBound >= 0 && record.bodyRange.upperBound <= payload.count,
                        "record body \(record.bodyRange) outside a payload of \(payload.count) bytes"
                    )
                    recordCount += 1
                }
                if walked != nil { fuzzRequire(recordCount == header.recordCount, "record count disagrees") }
            }
            position = payloadEnd
        }
    }
}

/// Every frame through the storage reader, each verified frame's records, until the end or damage.
func readWithSegmentReader(_ path: String) {
    guard let reader = try? SegmentReader(path: path) else { return }
    var frameCount = 0
    while frameCount < 10_000 {
        guard let step = try? reader.nextFrame() else { return }
        switch step {
        case .frame(let header, let fileOffset):
            reader.withPayload { payload in
                fuzzRequire(
                    payload.count == Int(header.uncompressedByteCount),
                    "payload of \(payload.count) bytes, the header says \(header.uncompressedByteCount)"
                )
            }
            try? reader.forEachRecord(of: header, at: fileOffset) { record, payload in
                fuzzRequire(record.bodyRange.upperBound <= payload.count, "record body outside the payload")
            }
            frameCount += 1
        case .end, .invalid:
            return
        }
    }
}
