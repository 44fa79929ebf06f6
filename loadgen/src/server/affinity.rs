//! CPU pinning with the OS affinity call, so the generator, the server and
//! the database do not fight over the same cores.

use std::os::unix::process::CommandExt;
use std::process::Command;

use nix::sched::{sched_setaffinity, CpuSet};
use nix::unistd::Pid;

fn cpu_set(cpus: &[usize]) -> nix::Result<CpuSet> {
    let mut set = CpuSet::new();
    for &cpu in cpus {
        set.set(cpu)?;
    }
    Ok(set)
}

/// Pins the calling process (all threads it starts later) to `cpus`.
pub fn pin_self(cpus: &[usize]) -> nix::Result<()> {
    sched_setaffinity(Pid::from_raw(0), &cpu_set(cpus)?)
}

/// Pins an existing process (the database's postmaster) to `cpus`; the
/// backends it forks for new connections inherit the mask.
pub fn pin_pid(pid: i32, cpus: &[usize]) -> nix::Result<()> {
    sched_setaffinity(Pid::from_raw(pid), &cpu_set(cpus)?)
}

/// Makes `command` start pinned to `cpus`.
pub fn pin_command(command: &mut Command, cpus: &[usize]) {
    let cpus = cpus.to_vec();
    // SAFETY: runs between fork and exec; sched_setaffinity is async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            let set = cpu_set(&cpus).map_err(std::io::Error::from)?;
            sched_setaffinity(Pid::from_raw(0), &set).map_err(std::io::Error::from)
        });
    }
}

/// A set of CPUs, as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cpus(pub Vec<usize>);

/// Parses `0`, `0,1` or `0-3`.
pub fn parse_cpus(text: &str) -> Result<Cpus, String> {
    let mut cpus = Vec::new();
    for part in text.split(',') {
        let part = part.trim();
        let bad = || format!("{text:?} is not a CPU list like 0, 0,1 or 0-3");
        match part.split_once('-') {
            Some((low, high)) => {
                let (low, high): (usize, usize) = (
                    low.parse().map_err(|_| bad())?,
                    high.parse().map_err(|_| bad())?,
                );
                if low > high {
                    return Err(bad());
                }
                cpus.extend(low..=high);
            }
            None => cpus.push(part.parse().map_err(|_| bad())?),
        }
    }
    let available = std::thread::available_parallelism().map_or(1, |n| n.get());
    if let Some(cpu) = cpus.iter().find(|&&cpu| cpu >= available) {
        return Err(format!(
            "CPU {cpu} does not exist here (this machine has {available})"
        ));
    }
    Ok(Cpus(cpus))
}
