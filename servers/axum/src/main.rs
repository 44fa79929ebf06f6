use std::process::ExitCode;

use server_runtime::launch::{run, Threads};

fn main() -> ExitCode {
    run(
        "stackbench-axum",
        3001,
        Threads::TokioWorkers,
        stackbench_axum::serve,
    )
}
