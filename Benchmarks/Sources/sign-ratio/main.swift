// sign-ratio: batched webhook signing against C anchors (`--help` says what it measures).
import BenchmarkCommandLine
import Foundation
import SignBaseline
import Sluice

var commandLine = BenchmarkCommandLine(
    name: "sign-ratio",
    summary: """
        Webhook signing throughput against C anchors, side by side in one process (issue 5, PERFORMANCE.md):
        Sluice's HMACBatchSigner (ipad/opad SHA-256 midstates prepared once per key, batches signed into caller
        storage) against, over the same messages and with the same `v1,<base64>` output:
          evp-mac   the EVP_MAC HMAC-SHA256 loop (one EVP_MAC_CTX per key), the anchor; goal >= 0.9x
          md-copy   HMAC from EVP_MD_CTX midstates copied per message (EVP_MD_CTX_copy_ex)
          hmac()    naive one-shot HMAC(EVP_sha256(), key, ...) per message; goal >= 2x
        for bodies of 256 B, 1 KiB and 4 KiB, with 1 key and with 1,000 keys (messages grouped by key). Prints
        medians over rounds (the order of the four flips each round), the median ratios, and mallocs per
        signature (this executable interposes malloc, see SignBaseline).
        """
)
let rounds = commandLine.integer("--rounds", default: 7, range: 1...1_000, "rounds")
let messageCount = commandLine.integer("--messages", default: 10_000, range: 1...10_000_000, "messages per round")
commandLine.finish()

let clock = ContinuousClock()
func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}
func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.count % 2 == 1
        ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

var random = SplitMix64(seed: 5)
let keyByteCount = 24  // a Standard Webhooks secret's size (whsec_ + 32 base64 characters)
print(
    "sign-ratio: \(messageCount) messages per round, \(rounds) rounds, keys of \(keyByteCount) bytes, id msg_<32 hex>"
)
print(
    "body    keys  sluice sig/s   evp-mac sig/s   md-copy sig/s   hmac() sig/s   ×evp-mac  ×md-copy  ×hmac()   mallocs/sig (sluice, evp-mac, md-copy, hmac())"
)

for bodyByteCount in [256, 1024, 4096] {
    for keyCount in [1, 1000] {
        let keys = (0..<keyCount * keyByteCount).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        let keyBytes = (0..<keyCount).map { Array(keys[$0 * keyByteCount..<($0 + 1) * keyByteCount]) }
        let signer = HMACBatchSigner(keyBytes: keyBytes)
        guard
            let baseline = keys.withUnsafeBufferPointer({
                sign_baseline_create($0.baseAddress, keyByteCount, Int32(keyCount))
            })
        else { fatalError("sign_baseline_create failed") }
        defer { sign_baseline_destroy(baseline) }

        // One arena holds every id and body; it lives until the end of this configuration.
        let idByteCount = 36
        let arena = UnsafeMutableRawBufferPointer.allocate(
            byteCount: messageCount * (idByteCount + bodyByteCount),
            alignment: 64
        )
        defer { arena.deallocate() }
        let hexDigits = Array("0123456789abcdef".utf8)
        let bodyAlphabet = Array(#"abcdefghijklmnopqrstuvwxyz0123456789",:{}[] "#.utf8)
        var swiftMessages: [SigningMessage] = []
        var cMessages: [sign_baseline_message] = []
        for index in 0..<messageCount {
            let idStart = index * (idByteCount + bodyByteCount)
            for (offset, byte) in "msg_".utf8.enumerated() { arena[idStart + offset] = byte }
            for offset in 4..<idByteCount { arena[idStart + offset] = hexDigits[Int(random.next() % 16)] }
            let bodyStart = idStart + idByteCount
            for offset in 0..<bodyByteCount {
                arena[bodyStart + offset] = bodyAlphabet[Int(random.next() % UInt64(bodyAlphabet.count))]
            }
            let keyIndex = index * keyCount / messageCount  // grouped by key
            let timestamp = 1_741_884_273 + UInt64(index)
            let id = UnsafeRawBufferPointer(rebasing: arena[idStart..<bodyStart])
            let body = UnsafeRawBufferPointer(rebasing: arena[bodyStart..<bodyStart + bodyByteCount])
            swiftMessages.append(
                SigningMessage(keyIndex: keyIndex, webhookID: id, timestampSeconds: timestamp, body: body)
            )
            cMessages.append(
                sign_baseline_message(
                    id: id.baseAddress!.assumingMemoryBound(to: UInt8.self),
                    id_length: idByteCount,
                    timestamp: timestamp,
                    body: body.baseAddress!.assumingMemoryBound(to: UInt8.self),
                    body_length: bodyByteCount,
                    key_index: Int32(keyIndex)
                )
            )
        }
        var values = [SignatureValue](repeating: SignatureValue(), count: messageCount)
        var evpOut = [UInt8](repeating: 0, count: messageCount * 47)
        var copyOut = [UInt8](repeating: 0, count: messageCount * 47)
        var naiveOut = [UInt8](repeating: 0, count: messageCount * 47)

        func runSluice() {
            swiftMessages.withUnsafeBufferPointer { batch in
                values.withUnsafeMutableBufferPointer { signer.sign(batch, into: $0) }
            }
        }
        func runEVPMAC() {
            let status = cMessages.withUnsafeBufferPointer { batch in
                evpOut.withUnsafeMutableBufferPointer {
                    sign_baseline_evp_mac(baseline, batch.baseAddress, messageCount, $0.baseAddress)
                }
            }
            precondition(status == 0)
        }
        func runMDCopy() {
            let status = cMessages.withUnsafeBufferPointer { batch in
                copyOut.withUnsafeMutableBufferPointer {
                    sign_baseline_evp_md_copy(baseline, batch.baseAddress, messageCount, $0.baseAddress)
                }
            }
            precondition(status == 0)
        }
        func runNaive() {
            let status = cMessages.withUnsafeBufferPointer { batch in
                keys.withUnsafeBufferPointer { keyPointer in
                    naiveOut.withUnsafeMutableBufferPointer {
                        sign_baseline_hmac_oneshot(
                            keyPointer.baseAddress,
                            keyByteCount,
                            batch.baseAddress,
                            messageCount,
                            $0.baseAddress
                        )
                    }
                }
            }
            precondition(status == 0)
        }
        // Warm up, count allocations of one steady-state pass each, and check that all four agree.
        let variants: [() -> Void] = [runSluice, runEVPMAC, runMDCopy, runNaive]
        var mallocsPerSignature: [Double] = []
        for variant in variants {
            variant()
            let before = sign_baseline_malloc_count()
            variant()
            mallocsPerSignature.append(Double(sign_baseline_malloc_count() - before) / Double(messageCount))
        }
        let sluiceOut = values.flatMap(\.bytes)
        precondition(sluiceOut == evpOut, "Sluice and EVP_MAC disagree")
        precondition(sluiceOut == copyOut, "Sluice and EVP_MD_CTX midstates disagree")
        precondition(sluiceOut == naiveOut, "Sluice and HMAC() disagree")

        var times: [[Double]] = Array(repeating: [], count: 4)
        var ratios: [[Double]] = Array(repeating: [], count: 3)
        for round in 0..<rounds {
            var roundTimes = [Double](repeating: 0, count: 4)
            let order = round % 2 == 0 ? [0, 1, 2, 3] : [3, 2, 1, 0]
            for variant in order { roundTimes[variant] = seconds(clock.measure { variants[variant]() }) }
            for variant in 0..<4 { times[variant].append(roundTimes[variant]) }
            for anchor in 1..<4 { ratios[anchor - 1].append(roundTimes[anchor] / roundTimes[0]) }
        }
        let rates = times.map { Double(messageCount) / median($0) }
        let line = [
            String(bodyByteCount).padding(toLength: 8, withPad: " ", startingAt: 0),
            String(keyCount).padding(toLength: 6, withPad: " ", startingAt: 0),
        ].joined()
        let rateText = rates.map { String(format: "%-16.0f", $0) }.joined()
        let ratioText = ratios.map { String(format: "%-10.2f", median($0)) }.joined()
        let mallocText = mallocsPerSignature.map { String(format: "%.2f", $0) }.joined(separator: ", ")
        print(line + rateText + ratioText + mallocText)
    }
}
