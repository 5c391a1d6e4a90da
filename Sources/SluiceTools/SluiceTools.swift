// What load testing and demos need and embedders of `Sluice` do not: the sink (`sluice sink`), the fixture
// generator (`sluice fixtures`), the replayer and its report (`sluice replay`, HdrHistogram), the demo job
// (`sluice demo`) and the `@_spi(Benchmarks)` hooks of the Benchmarks package. It builds on the facade and the
// modules below it; nothing in the product depends on it but the `sluice` executable (docs/layout.md).
@_exported public import Sluice
