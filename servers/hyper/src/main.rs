use std::process::ExitCode;

use shop::launch::{run, Threads};

fn main() -> ExitCode {
    run(
        "stackbench-hyper",
        3000,
        Threads::TokioWorkers,
        stackbench_hyper::serve,
    )
}
