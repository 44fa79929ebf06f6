//! Build-time facts, so the binary depends on no path of the checkout it
//! was built in: the shipped scenarios are embedded (every `scenarios/*.toml`:
//! adding a file ships it), and the git commit is recorded.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    embed_scenarios(&manifest.join("../scenarios"), &out.join("scenarios.rs"));
    if let Some(commit) = git_commit(&manifest) {
        println!("cargo:rustc-env=STACKBENCH_GIT_COMMIT={commit}");
    }
}

/// Writes `SHIPPED: &[(name, text)]`, sorted by name, one `include_str!` per file.
fn embed_scenarios(dir: &Path, out: &Path) {
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    let mut code = String::from("pub const SHIPPED: &[(&str, &str)] = &[\n");
    for path in files {
        let path = path.canonicalize().expect("an existing file");
        let name = path.file_stem().expect("a file name").to_string_lossy();
        code.push_str(&format!("    ({name:?}, include_str!({:?})),\n", path));
    }
    code.push_str("];\n");
    std::fs::write(out, code).unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
}

/// `git rev-parse HEAD`, with `-dirty` when tracked files differ from it;
/// None outside a git checkout or without git.
fn git_commit(dir: &Path) -> Option<String> {
    // --no-optional-locks: `git status` must not rewrite the index it is watched by.
    let git = |dir: &Path, args: &[&str]| {
        let output = Command::new("git")
            .arg("--no-optional-locks")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
    };
    let commit = git(dir, &["rev-parse", "HEAD"])?;
    let top = PathBuf::from(git(dir, &["rev-parse", "--show-toplevel"])?);
    // Rebuild when HEAD moves, the index changes (a commit, a checkout,
    // staging) or a tracked file is edited (the dirty flag).
    let git_dir = PathBuf::from(git(dir, &["rev-parse", "--absolute-git-dir"])?);
    let common_dir = git(
        dir,
        &["rev-parse", "--path-format=absolute", "--git-common-dir"],
    )
    .map_or_else(|| git_dir.clone(), PathBuf::from);
    let watched = [
        git_dir.join("HEAD"),
        git_dir.join("index"),
        common_dir.join("refs"),
        common_dir.join("packed-refs"),
    ];
    let tracked = git(&top, &["ls-files", "-z"]).unwrap_or_default();
    let tracked = tracked
        .split('\0')
        .filter(|file| !file.is_empty())
        .map(|file| top.join(file));
    // A path that does not exist would make cargo run this script every build.
    for path in watched.into_iter().chain(tracked).filter(|p| p.exists()) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    // Untracked files (saved results, say) do not make a build dirty.
    let changes = git(&top, &["status", "--porcelain", "--untracked-files=no"])?;
    Some(match changes.is_empty() {
        true => commit,
        false => format!("{commit}-dirty"),
    })
}
