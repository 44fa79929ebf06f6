use std::process::ExitCode;

use server_runtime::launch::{run, Threads};

fn main() -> ExitCode {
    run(
        "stackbench-actix",
        3002,
        Threads::FrameworkWorkers,
        stackbench_actix::serve,
    )
}
