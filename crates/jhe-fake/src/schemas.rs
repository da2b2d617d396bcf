//! Test support (feature `schemas`): the OMH / IEEE 1752 JSON Schemas vendored in the
//! repository's `tests/reference/omh-schemas/`, found by file name and validated against
//! with every `$ref` resolved to the vendored files, never the network. Used by jhe's
//! catalogue tests and this crate's tests. It reads the files from the source tree, so it
//! works only where the repository is checked out.

use std::path::{Path, PathBuf};

use serde_json::Value;

pub const OMH_BASE: &str = "https://w3id.org/openmhealth/schemas/omh/";
pub const IEEE_BASE: &str = "https://w3id.org/ieee/ieee-1752-schema/";

/// `tests/reference/omh-schemas/schema` at the repository root, two levels above this crate.
pub fn schema_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/reference/omh-schemas/schema")
}

/// The file called `name` anywhere below `dir`.
pub fn find(dir: &Path, name: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()? {
        let path = entry.ok()?.path();
        if path.is_dir() {
            if let Some(found) = find(&path, name) {
                return Some(found);
            }
        } else if path.file_name().is_some_and(|n| n == name) {
            return Some(path);
        }
    }
    None
}

/// A schema file; a `*.x.json` holding just another file's name (a git symlink checked out
/// as text) is followed.
pub fn load(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let trimmed = text.trim();
    if trimmed.ends_with(".json") && !trimmed.starts_with('{') {
        return load(&path.with_file_name(trimmed));
    }
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The vendored file of a code's body schema (`omh:blood-glucose:4.0` → `omh/blood-glucose-4.0.json`).
pub fn schema_file(code: &str) -> PathBuf {
    let mut parts = code.split(':');
    let (Some(namespace), Some(name), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        panic!("{code} is not namespace:name:version");
    };
    let file = format!("{name}-{version}.json");
    find(&schema_root().join(namespace), &file).unwrap_or_else(|| panic!("no vendored schema {namespace}/{file} for {code}"))
}

/// Resolves `$ref`s to the vendored files.
struct Vendored;

impl jsonschema::Retrieve for Vendored {
    fn retrieve(&self, uri: &jsonschema::Uri<String>) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let uri = uri.as_str();
        let (dir, name) = if let Some(name) = uri.strip_prefix(OMH_BASE) {
            ("omh", name)
        } else if let Some(name) = uri.strip_prefix(IEEE_BASE) {
            ("ieee", name)
        } else {
            return Err(format!("no vendored schema for {uri}").into());
        };
        let path = find(&schema_root().join(dir), name).ok_or_else(|| format!("no vendored schema for {uri}"))?;
        Ok(load(&path)?)
    }
}

/// A validator for the schema file `file` of `namespace` (`omh` or `ieee`), formats checked.
pub fn validator(namespace: &str, file: &str) -> jsonschema::Validator {
    let (dir, base) = if namespace == "ieee" { ("ieee", IEEE_BASE) } else { ("omh", OMH_BASE) };
    let path = find(&schema_root().join(dir), file).unwrap_or_else(|| panic!("schema {file} not vendored"));
    let schema = load(&path).unwrap_or_else(|e| panic!("{e}"));
    jsonschema::options()
        .with_retriever(Vendored)
        .with_base_uri(format!("{base}{file}"))
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// A validator for a code's body (`omh:blood-glucose:4.0`).
pub fn body_validator(code: &str) -> jsonschema::Validator {
    let path = schema_file(code);
    let name = path.file_name().and_then(|n| n.to_str()).expect("a file name");
    validator(code.split(':').next().unwrap_or("omh"), name)
}
