import Benchmark
import SluiceCore

// The HTTP/1.1 codec on the delivery hot path: one signed 1 KiB webhook POST encoded, one nginx
// `return 204` response parsed, per iteration. The anchor for the whole path is wrk against nginx
// (issue 6, measured by the delivery benchmark); these isolate the codec's share and prove the
// steady state allocates nothing (`mallocCountTotal` must be 0).

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        warmupIterations: 10,
        scalingFactor: .kilo,
        maxDuration: .seconds(2),
        maxIterations: 1_000
    )

    let head = HTTPRequestHead(
        method: .post,
        target: "/hooks/infrahub",
        host: "127.0.0.1:8080",
        headerFields: [
            HTTPHeaderField("Accept", "application/json"),
            HTTPHeaderField("Content-Type", "application/json"),
            HTTPHeaderField("webhook-id", "msg_217b4ebcb84f4736b1ee222182aed371"),
            HTTPHeaderField("webhook-timestamp", "1740656629"),
            HTTPHeaderField("webhook-signature", "v1,5JQxZW3lMNdaSnofcSV0Y3krxQ7aZI7EyThUqHVDGc4="),
        ]
    )
    let body = [UInt8](repeating: UInt8(ascii: "a"), count: 1024)

    /// One iteration: the request head and 1 KiB body written into a reused encoder buffer.
    Benchmark("HTTPRequestEncoder.encode.signedWebhook1KiB") { benchmark in
        var encoder = HTTPRequestEncoder(byteCountReserved: 4096)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            do {
                try encoder.encode(head, body: body)
            } catch {
                benchmark.error("encoder rejected the request: \(error)")
                return
            }
            blackHole(encoder.bytes.count)
        }
    }

    /// One iteration: the same request from a template prepared once (static fields pre-encoded);
    /// only the three signature fields are validated and appended per request.
    Benchmark("HTTPRequestEncoder.encodeTemplate.signedWebhook1KiB") { benchmark in
        var encoder = HTTPRequestEncoder(byteCountReserved: 4096)
        var staticHead = head
        let dynamic = Array(staticHead.headerFields.suffix(3))
        staticHead.headerFields.removeLast(3)
        let template: HTTPRequestTemplate
        do {
            template = try HTTPRequestTemplate(staticHead)
        } catch {
            benchmark.error("template rejected: \(error)")
            return
        }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            do {
                try encoder.encode(template, dynamicHeaderFields: dynamic, body: body)
            } catch {
                benchmark.error("encoder rejected the request: \(error)")
                return
            }
            blackHole(encoder.bytes.count)
        }
    }

    let response = Array(
        ("HTTP/1.1 204 No Content\r\nServer: nginx/1.22.1\r\nDate: Tue, 01 Dec 2026 18:21:29 GMT\r\n"
            + "Connection: keep-alive\r\n\r\n").utf8
    )

    /// One iteration: nginx's 204 response (head only) parsed to `.head` and `.end` by a reused parser.
    Benchmark("HTTPResponseParser.parse.nginx204") { benchmark in
        var parser = HTTPResponseParser()
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(parseAll(&parser, response))
        }
    }

    let chunked = Array(
        ("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "10\r\n{\"accepted\":true\r\n1\r\n}\r\n0\r\n\r\n").utf8
    )

    /// One iteration: a small chunked 200 response parsed to its end by a reused parser.
    Benchmark("HTTPResponseParser.parse.chunked200") { benchmark in
        var parser = HTTPResponseParser()
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(parseAll(&parser, chunked))
        }
    }
}

/// Parses one whole response from `bytes`; returns the body byte count (or -1 on error).
@inline(never)
func parseAll(_ parser: inout HTTPResponseParser, _ bytes: [UInt8]) -> Int {
    let whole = bytes.span
    var start = 0
    var bodyByteCount = 0
    do {
        while true {
            let step = try parser.next(whole.extracting(start..<whole.count))
            start += step.consumedByteCount
            switch step.event {
            case .needMoreBytes, .end: return bodyByteCount
            case .head: continue
            case .body(let range): bodyByteCount += range.count
            }
        }
    } catch {
        return -1
    }
}
