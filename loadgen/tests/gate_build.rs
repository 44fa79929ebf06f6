//! The regression gates build what they say they measure
//! (`scripts/gate-lib.sh`, which both gates use), shown on a probe crate
//! whose base commit prints "base" and whose head commit prints "head".
//!
//! The traps it guards against: two checkouts of one workspace that share a
//! target directory share their crates' artifacts, and cargo rebuilds them
//! by file times alone; and one source built at two paths is not one
//! program.

use support::explain;
use support::probe::{self, build_base_and_head, commit, gate_script};

mod support;

fn says(word: &str) -> String {
    format!("fn main() {{\n    println!(\"{word}\");\n}}\n")
}

#[test]
fn base_and_head_are_each_built_from_their_own_sources() {
    let repo = probe::repository("own-sources", &says("base"), &says("head"));
    let output = build_base_and_head(
        &repo,
        // The head again, after the base's sources took its place: still the
        // head's. Then the working tree edited, its file older than every
        // build (as a checkout can leave it): built again, from the edit.
        r#"gate_side head
        again=$("$gate_dir/head/gate/probe")
        printf 'fn main() {\n    println!("edited");\n}\n' > probe/src/main.rs
        touch -d '2001-01-01' probe/src/main.rs
        gate_side head
        echo "base=$(./base-build) head=$(./head-build) again=$again edited=$("$gate_dir/head/gate/probe")""#,
    );
    assert!(output.status.success(), "{}", explain(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "base=base head=head again=head edited=edited",
        "{}",
        explain(&output)
    );
}

/// Both sides are built from one directory (the path goes into how rustc
/// compiles a crate): a program that prints the directory it was compiled
/// in prints the same one from either side.
#[test]
fn both_sides_are_built_from_one_path() {
    let prints_its_file = "fn main() {\n    println!(\"{}\", env!(\"CARGO_MANIFEST_DIR\"));\n}\n";
    let head = format!("// head\n{prints_its_file}");
    let repo = probe::repository("one-path", prints_its_file, &head);
    let output = build_base_and_head(&repo, r#"echo "$(./base-build) $(./head-build)""#);
    assert!(output.status.success(), "{}", explain(&output));
    let printed = String::from_utf8_lossy(&output.stdout);
    let (base, head) = printed.trim().split_once(' ').expect("two paths");
    assert_eq!(base, head, "{}", explain(&output));
}

#[test]
fn a_gate_whose_inputs_did_not_change_is_skipped_with_one_line() {
    let repo = probe::repository("unchanged", &says("base"), &says("head"));
    std::fs::write(repo.join("README.md"), "only words changed\n").unwrap();
    commit(&repo, "docs");
    let skipped = gate_script(
        &repo,
        "gate_resolve_base HEAD~1\ngate_skip_if_unchanged probe Cargo.toml\necho measured",
    );
    assert_eq!(skipped.status.code(), Some(0), "{}", explain(&skipped));
    assert!(skipped.stdout.is_empty(), "{}", explain(&skipped));
    let said = String::from_utf8_lossy(&skipped.stderr);
    assert_eq!(said.lines().count(), 1, "{said}");
    assert!(said.contains("skipped"), "{said}");

    // Against the commit before, the probe did change: the gate goes on.
    let measured = gate_script(
        &repo,
        "gate_resolve_base HEAD~2\ngate_skip_if_unchanged probe Cargo.toml\necho measured",
    );
    assert_eq!(
        String::from_utf8_lossy(&measured.stdout).trim(),
        "measured",
        "{}",
        explain(&measured)
    );
}
