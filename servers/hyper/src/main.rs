use std::process::ExitCode;

use server_runtime::launch::{run, Threads};

fn main() -> ExitCode {
    run(
        "stackbench-hyper",
        3000,
        Threads::TokioWorkers,
        stackbench_hyper::serve,
    )
}
