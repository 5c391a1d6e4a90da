import FuzzSupport
import Sluice

/// Pipeline configuration files (`sluice run --config`), YAML and JSON: webhooks, triggers, `log` and
/// `pipeline` sections, read through ``PipelineConfiguration/load(path:environment:logDirectory:)`` from a
/// real file, and the trigger-only parser ``ConfigurationFile/parseTriggers(_:format:file:)``.
///
/// Input: byte 0 is the mode (bit 0: JSON, else YAML — the file's suffix says which), the rest the file.
/// Run with a small `-max_len` (scripts/fuzz uses 4096): the point is malformed structure and numbers.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    var input = FuzzInput(start, count)
    let isJSON = input.byte() & 1 != 0
    let text = input.rest()
    let path = ScratchFile.write(text, name: isJSON ? "sluice.json" : "sluice.yaml")
    do {
        _ = try PipelineConfiguration.load(path: path, environment: ["SLUICE_FUZZ_SECRET": "s3cr3t"])
    } catch {
        _ = "\(error)"  // errors render (file, line, field, message) without trapping
    }
    do {
        _ = try ConfigurationFile.parseTriggers(text, format: isJSON ? .json : .yaml, file: path)
    } catch {
        _ = error.description
    }
    return 0
}
