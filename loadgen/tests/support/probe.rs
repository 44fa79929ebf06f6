//! A workspace of one small crate, `probe`, in a git repository of its
//! own, whose HEAD~1 and HEAD differ by their source: what the regression
//! gates' build (`scripts/gate-lib.sh`) is tested on. It has no
//! dependencies, so it builds in a second.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::temp_dir;

const MANIFEST: &str = r#"[workspace]
members = ["probe"]
resolver = "2"

[profile.gate]
inherits = "dev"
"#;

const PROBE_MANIFEST: &str = r#"[package]
name = "probe"
version = "0.1.0"
edition = "2021"
"#;

/// A repository whose HEAD~1 has `base` as `probe/src/main.rs`, and HEAD `head`.
pub fn repository(name: &str, base: &str, head: &str) -> PathBuf {
    let repo = temp_dir(name);
    std::fs::create_dir_all(repo.join("probe/src")).unwrap();
    std::fs::write(repo.join("Cargo.toml"), MANIFEST).unwrap();
    std::fs::write(repo.join("probe/Cargo.toml"), PROBE_MANIFEST).unwrap();
    std::fs::write(repo.join(".gitignore"), "/target\n/*-build\n").unwrap();
    git(&repo, &["init", "--quiet"]);
    for (source, message) in [(base, "base"), (head, "head")] {
        std::fs::write(repo.join("probe/src/main.rs"), source).unwrap();
        commit(&repo, message);
    }
    repo
}

pub fn git(repo: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(["-c", "user.name=test", "-c", "user.email=test@localhost"])
        .args(args)
        .current_dir(repo)
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

pub fn commit(repo: &Path, message: &str) {
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "--quiet", "-m", message]);
}

/// Runs a bash script in `repo` with gate-lib.sh sourced as the gates source it.
pub fn gate_script(repo: &Path, script: &str) -> Output {
    let gate_lib = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/gate-lib.sh");
    let prelude = format!(
        "set -euo pipefail\nsay() {{ echo \"gate: $*\" >&2; }}\ndie() {{ say \"error: $*\"; exit 1; }}\nsource '{}'\n",
        gate_lib.display()
    );
    Command::new("bash")
        .arg("-c")
        .arg(prelude + script)
        .current_dir(repo)
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .unwrap()
}

/// Builds the probe as a gate does (`gate_side`, with the probe's build as
/// `gate_build`), head first, then the base
/// against HEAD~1, leaving `head-build` and `base-build` in the repository,
/// then runs `then`. The working tree is built first into its own `target/`
/// as a developer would, and its files are set back in time, older than
/// anything the gate's builds write, as they are in CI (the clone comes
/// before any build): a gate that shared a target directory, or trusted
/// file times, would take one side's build for the other's.
pub fn build_base_and_head(repo: &Path, then: &str) -> Output {
    let script = format!(
        r#"
        cargo build --quiet --offline --profile gate
        find probe Cargo.toml -exec touch -d '2001-01-01' {{}} +
        gate_build() {{ cargo build --quiet --offline --profile gate; }}
        gate_resolve_base HEAD~1
        gate_side head
        cp "$gate_dir/head/gate/probe" head-build
        gate_side base
        cp "$gate_dir/base/gate/probe" base-build
        {then}
        "#
    );
    gate_script(repo, &script)
}
