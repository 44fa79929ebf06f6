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

/// Builds the probe as a gate does, head first, then the base against
/// HEAD~1 in its own target directory, leaving `head-build` and
/// `base-build` in the repository, then runs `then`. The head's files are
/// first set back in time, older than anything the base build writes, as
/// they are in CI (the base's worktree is checked out after the clone): a
/// gate that shared one target directory between the two would then take
/// the base's build for the head's.
pub fn build_base_and_head(repo: &Path, then: &str) -> Output {
    let script = format!(
        r#"
        cargo build --quiet --offline --profile gate
        cp target/gate/probe head-build
        find probe Cargo.toml -exec touch -d '2001-01-01' {{}} +
        gate_resolve_base HEAD~1
        gate_checkout_base gate
        gate_at_base cargo build --quiet --offline --profile gate
        cp "$gate_dir/target/gate/probe" base-build
        {then}
        "#
    );
    gate_script(repo, &script)
}

pub fn explain(output: &Output) -> String {
    format!(
        "status {:?}\n{}\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
