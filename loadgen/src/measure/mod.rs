//! What a run measured and how it is judged: per-thread statistics merged at
//! the end, the saved records of runs and comparisons, and the statistics
//! that verdicts rest on. Nothing here sends a request or prints.

pub mod capacity;
pub mod comparison;
pub mod figure;
pub mod frame;
pub mod gate;
pub mod paired;
pub mod record;
pub mod statistics;
pub mod steps;
pub mod sweep;
