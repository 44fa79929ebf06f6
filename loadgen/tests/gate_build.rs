//! The regression gates build what they say they measure
//! (`scripts/gate-lib.sh`, which both gates use), shown on a probe crate
//! whose base commit prints "base" and whose head commit prints "head".
//!
//! The trap it guards against is cargo's: two checkouts of one workspace
//! that share a target directory share their crates' artifacts, and cargo
//! rebuilds them by file times alone.

use support::probe::{self, build_base_and_head, commit, explain, gate_script};

mod support;

fn says(word: &str) -> String {
    format!("fn main() {{\n    println!(\"{word}\");\n}}\n")
}

#[test]
fn base_and_head_are_each_built_from_their_own_sources() {
    let repo = probe::repository("own-sources", &says("base"), &says("head"));
    let output = build_base_and_head(
        &repo,
        // A later build of the working tree must still be the head's.
        r#"cargo build --quiet --offline --profile gate
        echo "base=$(./base-build) head=$(./head-build) again=$(target/gate/probe)""#,
    );
    assert!(output.status.success(), "{}", explain(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "base=base head=head again=head",
        "{}",
        explain(&output)
    );
    assert!(
        !repo.join("target/gate-base/src").exists(),
        "the base's worktree is removed when the gate ends"
    );
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
