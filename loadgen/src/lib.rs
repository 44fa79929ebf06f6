//! loadgen's engine, measurement, scenarios, reports and commands, as a
//! library: the `loadgen` binary is its command line, and the
//! micro-benchmarks (`benches/`) measure its hot pieces (template
//! rendering, the HTTP/1.1 response parser, histograms) in process.

pub mod commands;
pub mod engine;
pub mod measure;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod server;
pub mod units;
