//! The subcommands: thin layers that put a scenario, the engine, the stacks
//! and the reports together.

pub mod capacity;
pub mod compare;
pub mod db;
pub mod gate;
pub mod k8s;
pub mod load;
pub mod merge;
pub mod places;
pub mod run;
pub mod saved;
pub mod serve;
pub mod stacks;
pub mod steps;
pub mod sweep;
