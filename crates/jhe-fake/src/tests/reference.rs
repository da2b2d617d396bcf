//! The vendored copies of the reference material must stay byte-identical to the shared
//! originals when those are present (a clone without `../shared` skips the comparison).

use std::collections::BTreeMap;
use std::path::Path;

use super::repo_root;

fn files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let name = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(name, std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

fn assert_same_tree(vendored: &str, shared: &str) {
    let root = repo_root();
    let vendored = root.join(vendored);
    let shared = root.join(shared);
    let mine = files(&vendored);
    assert!(!mine.is_empty(), "{} is empty", vendored.display());
    if !shared.is_dir() {
        eprintln!(
            "{} not present; only the vendored copy is checked",
            shared.display()
        );
        return;
    }
    let theirs = files(&shared);
    let names = |m: &BTreeMap<String, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        names(&mine),
        names(&theirs),
        "file lists differ: {} vs {}",
        vendored.display(),
        shared.display()
    );
    for (name, bytes) in &mine {
        assert!(
            bytes == &theirs[name],
            "{name} differs from {}",
            shared.display()
        );
    }
}

#[test]
fn vendored_samples_match_the_shared_reference() {
    assert_same_tree("tests/reference/samples", "../shared/jhe-reference/samples");
}

#[test]
fn vendored_legacy_samples_match_the_shared_reference() {
    assert_same_tree(
        "tests/reference/samples-v0.0.11",
        "../shared/jhe-reference/samples-v0.0.11",
    );
}

#[test]
fn vendored_omh_schemas_match_the_shared_reference() {
    assert_same_tree(
        "tests/reference/omh-schemas",
        "../shared/jhe-reference/omh-schemas",
    );
}

#[test]
fn served_capability_statement_is_the_vendored_sample() {
    let served = include_str!("../routes/capability_statement.json");
    let sample = std::fs::read_to_string(
        repo_root().join("tests/reference/samples/fhir_capability_statement.json"),
    )
    .unwrap();
    assert_eq!(served, sample);
}
