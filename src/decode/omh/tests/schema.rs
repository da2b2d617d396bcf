//! The catalogue checked against the vendored OMH / IEEE 1752 JSON Schemas
//! (`tests/reference/omh-schemas/schema/`): paths, kinds, `required` and units, with every
//! `$ref` followed to the vendored files (never the network).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex};

use serde_json::Value;

use crate::decode::omh::catalog::{CATALOG, CodeSpec, Measure, MeasureKind, UnitConversion};

pub(super) use jhe_fake::schemas::body_validator;
use jhe_fake::schemas::{IEEE_BASE, OMH_BASE, find, schema_file, schema_root};

/// Body properties the data model cannot hold as a column, with why. Each must still be in
/// its schema (and be what the reason says), so this list cannot go stale silently.
const NO_COLUMN: &[(&str, &str, &str)] = &[(
    "ieee:sleep-stage-summary:1.0",
    "sleep_stage_episodes",
    "array",
)];

/// Every OMH code seen on real JupyterHealth Exchange servers, plus the IEEE food entry.
pub(super) const CODES: [&str; 16] = [
    "omh:blood-glucose:4.0",
    "omh:blood-pressure:4.0",
    "omh:heart-rate:2.0",
    "omh:body-temperature:4.0",
    "omh:oxygen-saturation:2.0",
    "omh:respiratory-rate:2.0",
    "omh:rr-interval:1.0",
    "omh:body-weight:3.0",
    "omh:forced-vital-capacity:1.0",
    "omh:forced-expiratory-volume-1-second:1.0",
    "omh:physical-activity:1.2",
    "omh:step-count:3.0",
    "omh:sleep-episode:1.1",
    "omh:sleep-duration:2.0",
    "ieee:sleep-stage-summary:1.0",
    "ieee:food-entry:0.1",
];

/// A schema file, panicking with the reason when it cannot be read.
fn load(path: &Path) -> Value {
    jhe_fake::schemas::load(path).unwrap_or_else(|e| panic!("{e}"))
}

struct Doc {
    path: PathBuf,
    root: Value,
}

/// Loaded schema files, kept for the whole test run so nodes can borrow them.
static DOCS: LazyLock<Mutex<HashMap<PathBuf, &'static Doc>>> = LazyLock::new(Default::default);

fn doc(path: &Path) -> &'static Doc {
    let mut docs = DOCS.lock().unwrap_or_else(|e| e.into_inner());
    docs.entry(path.to_path_buf())
        .or_insert_with(|| Box::leak(Box::new(Doc { path: path.to_path_buf(), root: load(path) })))
}

/// A subschema and the file it sits in (for `#/definitions/...` and relative `$ref`s).
#[derive(Clone, Copy)]
struct Node {
    value: &'static Value,
    doc: &'static Doc,
}

impl Node {
    fn root(path: &Path) -> Node {
        let doc = doc(path);
        Node { value: &doc.root, doc }
    }

    fn child(self, value: &'static Value) -> Node {
        Node { value, doc: self.doc }
    }

    fn resolve(self, reference: &str) -> Node {
        let (file, fragment) = reference.split_once('#').unwrap_or((reference, ""));
        let target = if file.is_empty() {
            Node { value: &self.doc.root, doc: self.doc }
        } else {
            let ieee = schema_root().join("ieee");
            let path = if let Some(name) = file.strip_prefix(IEEE_BASE) {
                find(&ieee, name)
            } else if let Some(name) = file.strip_prefix(OMH_BASE) {
                Some(schema_root().join("omh").join(name))
            } else if self.doc.path.starts_with(&ieee) {
                // IEEE files are addressed by name under one base URI, whatever folder holds them.
                find(&ieee, file)
            } else {
                Some(self.doc.path.with_file_name(file))
            };
            let path = path
                .filter(|p| p.exists())
                .unwrap_or_else(|| panic!("{}: $ref {reference} is not vendored", self.doc.path.display()));
            Node::root(&path)
        };
        let value = target
            .value
            .pointer(fragment)
            .unwrap_or_else(|| panic!("{}: $ref {reference} points nowhere", self.doc.path.display()));
        target.child(value)
    }
}

/// The subschemas that all apply to a value: the nodes, what their `$ref`s point to, and
/// their `allOf` members, recursively.
fn conjunction(nodes: &[Node]) -> Vec<Node> {
    let mut out = Vec::new();
    for &node in nodes {
        out.push(node);
        if let Some(reference) = node.value.get("$ref").and_then(Value::as_str) {
            out.extend(conjunction(&[node.resolve(reference)]));
        }
        for member in node.value.get("allOf").and_then(Value::as_array).into_iter().flatten() {
            out.extend(conjunction(&[node.child(member)]));
        }
    }
    out
}

/// `oneOf` / `anyOf` branches of the parts.
fn alternatives(parts: &[Node]) -> Vec<Vec<Node>> {
    let mut out = Vec::new();
    for part in parts {
        for key in ["oneOf", "anyOf"] {
            if let Some(branches) = part.value.get(key).and_then(Value::as_array) {
                out.push(branches.iter().map(|b| part.child(b)).collect());
            }
        }
    }
    out
}

fn properties(nodes: &[Node]) -> BTreeMap<String, Vec<Node>> {
    let mut out: BTreeMap<String, Vec<Node>> = BTreeMap::new();
    for part in conjunction(nodes) {
        for (name, schema) in part.value.get("properties").and_then(Value::as_object).into_iter().flatten() {
            out.entry(name.clone()).or_default().push(part.child(schema));
        }
    }
    out
}

/// Property names in the parts or in any of their alternatives (for telling a `{value, unit}`
/// apart from a nested object).
fn any_property_names(nodes: &[Node]) -> BTreeSet<String> {
    let parts = conjunction(nodes);
    let mut names: BTreeSet<String> = properties(&parts).into_keys().collect();
    for branches in alternatives(&parts) {
        for branch in branches {
            names.extend(any_property_names(&[branch]));
        }
    }
    names
}

fn required_names(nodes: &[Node]) -> BTreeSet<String> {
    conjunction(nodes)
        .iter()
        .flat_map(|p| p.value.get("required").and_then(Value::as_array).into_iter().flatten())
        .filter_map(|v| v.as_str().map(String::from))
        .collect()
}

fn types(nodes: &[Node]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for part in conjunction(nodes) {
        match part.value.get("type") {
            Some(Value::String(t)) => {
                out.insert(t.clone());
            }
            Some(Value::Array(ts)) => out.extend(ts.iter().filter_map(|t| t.as_str().map(String::from))),
            _ => {}
        }
    }
    out
}

/// The values a constraint allows: `None` is unrestricted. Parts intersect, alternatives
/// unite; `own` gives what one part itself allows.
fn allowed(nodes: &[Node], own: &dyn Fn(Node) -> Option<BTreeSet<String>>) -> Option<BTreeSet<String>> {
    let parts = conjunction(nodes);
    let mut acc: Option<BTreeSet<String>> = None;
    let mut narrow = |set: BTreeSet<String>| {
        acc = Some(match acc.take() {
            None => set,
            Some(prev) => prev.intersection(&set).cloned().collect(),
        });
    };
    for &part in &parts {
        if let Some(set) = own(part) {
            narrow(set);
        }
    }
    for branches in alternatives(&parts) {
        let mut union = Some(BTreeSet::new());
        for branch in branches {
            match (allowed(&[branch], own), union.as_mut()) {
                (Some(set), Some(u)) => u.extend(set),
                _ => union = None,
            }
        }
        if let Some(set) = union {
            narrow(set);
        }
    }
    acc
}

fn enum_strings(node: Node) -> Option<BTreeSet<String>> {
    node.value
        .get("enum")
        .and_then(Value::as_array)
        .map(|values| values.iter().filter_map(|v| v.as_str().map(String::from)).collect())
}

/// The enumeration of a string (`None`: any string).
fn enumeration(nodes: &[Node]) -> Option<BTreeSet<String>> {
    allowed(nodes, &enum_strings)
}

/// Whether an `enum` applies somewhere (a category may also take other strings, as
/// `descriptive_statistic_denominator` does with `anyOf: [enum, string]`).
fn has_enum(nodes: &[Node]) -> bool {
    let parts = conjunction(nodes);
    parts.iter().any(|p| p.value.get("enum").is_some())
        || alternatives(&parts).iter().flatten().any(|b| has_enum(&[*b]))
}

/// The units a `{value, unit}` schema allows (`None`: any string).
fn units(nodes: &[Node]) -> Option<BTreeSet<String>> {
    allowed(nodes, &|part: Node| match part.value.get("properties").and_then(|p| p.get("unit")) {
        Some(unit) => enumeration(&[part.child(unit)]),
        // `{value}` alone, closed: no unit at all.
        None if part.value.get("additionalProperties") == Some(&Value::Bool(false)) => Some(BTreeSet::new()),
        None => None,
    })
}

/// What the schema says at one path below the body.
struct Found {
    nodes: Vec<Node>,
    /// Every key on the way is required by its parent.
    required: bool,
}

fn at_path(body: &[Node], path: &[&str]) -> Option<Found> {
    let mut nodes = body.to_vec();
    let mut required = true;
    for key in path {
        required &= required_names(&nodes).contains(*key);
        nodes = properties(&nodes).remove(*key)?;
    }
    Some(Found { nodes, required })
}

fn set(items: impl IntoIterator<Item = impl Into<String>>) -> BTreeSet<String> {
    items.into_iter().map(Into::into).collect()
}

/// Everything wrong with one measure, as sentences.
fn check_measure(measure: &Measure, body: &[Node]) -> Vec<String> {
    let name = format!("{} ({})", measure.column, measure.dotted_path());
    let Some(found) = at_path(body, measure.path) else {
        return vec![format!("{name}: no such property in the schema")];
    };
    let mut problems = Vec::new();
    if measure.required != found.required {
        problems.push(format!("{name}: required is {}, the schema says {}", measure.required, found.required));
    }
    let nodes = &found.nodes;
    let value_types = properties(nodes).get("value").map(|v| types(v)).unwrap_or_default();
    let is_unit_value = value_types.contains("number") && properties(nodes).contains_key("unit");
    match &measure.kind {
        MeasureKind::Quantity { units: conversions, stated } => {
            check_quantity(&name, conversions, stated.is_some(), is_unit_value, nodes, &mut problems)
        }
        MeasureKind::Amount => {
            if !any_property_names(nodes).contains("value") {
                problems.push(format!("{name}: an amount, but the schema has no value"));
            }
        }
        MeasureKind::Number => {
            if !types(nodes).contains("number") {
                problems.push(format!("{name}: a number, but the schema's type is {:?}", types(nodes)));
            }
        }
        MeasureKind::Count { unit: None } => {
            if types(nodes) != set(["integer"]) {
                problems.push(format!("{name}: a count, but the schema's type is {:?}", types(nodes)));
            }
        }
        MeasureKind::Count { unit: Some(unit) } => {
            if !is_unit_value || units(nodes) != Some(set([*unit])) {
                problems.push(format!("{name}: a count in {unit}, the schema allows {:?}", units(nodes)));
            }
        }
        MeasureKind::Category => {
            if !has_enum(nodes) {
                problems.push(format!("{name}: a category, but the schema has no enumeration"));
            }
            if !types(nodes).is_subset(&set(["string"])) {
                problems.push(format!("{name}: a category, but the schema's type is {:?}", types(nodes)));
            }
        }
        MeasureKind::Text => {
            if types(nodes) != set(["string"]) || has_enum(nodes) {
                problems.push(format!("{name}: free text, but the schema says {:?} / enum {:?}", types(nodes), enumeration(nodes)));
            }
        }
        MeasureKind::Boolean => {
            if types(nodes) != set(["boolean"]) {
                problems.push(format!("{name}: a boolean, but the schema's type is {:?}", types(nodes)));
            }
        }
    }
    problems
}

/// What is wrong with a quantity measure: its units against the schema's, and its conversions.
fn check_quantity(name: &str, conversions: &[UnitConversion], stated: bool, is_unit_value: bool, nodes: &[Node], problems: &mut Vec<String>) {
    let ours: BTreeSet<String> = conversions.iter().map(|u| u.unit.to_string()).collect();
    if !is_unit_value {
        problems.push(format!("{name}: a quantity, but the schema has no numeric value and unit"));
    }
    match units(nodes) {
        None => problems.push(format!("{name}: the schema allows any unit")),
        Some(theirs) if theirs != ours => problems.push(format!(
            "{name}: units {ours:?}, the schema allows {theirs:?} (missing {:?}, not allowed {:?})",
            theirs.difference(&ours).collect::<Vec<_>>(),
            ours.difference(&theirs).collect::<Vec<_>>()
        )),
        Some(_) => {}
    }
    if ours.len() != conversions.len() {
        problems.push(format!("{name}: a unit is listed twice"));
    }
    match conversions.first() {
        Some(first) if first.factor == 1.0 && first.offset == 0.0 => {}
        _ => problems.push(format!("{name}: the first unit must be the canonical one (factor 1, offset 0)")),
    }
    if conversions.iter().any(|u| !(u.factor.is_finite() && u.factor > 0.0 && u.offset.is_finite())) {
        problems.push(format!("{name}: a conversion factor is not a positive number"));
    }
    if stated != (conversions.len() > 1) {
        problems.push(format!("{name}: stated value/unit columns are for quantities with several units"));
    }
}

/// Every property below `nodes` that should be a measure: `{value, unit}`s and scalars are
/// leaves, objects with properties are walked into. Arrays are listed apart.
fn leaves(nodes: &[Node], prefix: &[String], out: &mut Vec<(Vec<String>, bool)>, arrays: &mut Vec<Vec<String>>, required: bool) {
    let required_here = required_names(nodes);
    for (key, child) in properties(nodes) {
        if prefix.is_empty() && key == "effective_time_frame" {
            continue;
        }
        let mut path = prefix.to_vec();
        path.push(key.clone());
        let child_required = required && required_here.contains(&key);
        let names = any_property_names(&child);
        if types(&child).contains("array") {
            arrays.push(path);
        } else if !names.contains("value") && !properties(&child).is_empty() {
            let before = out.iter().filter(|(_, r)| *r).count();
            leaves(&child, &path, out, arrays, child_required);
            if child_required && out.iter().filter(|(_, r)| *r).count() == before {
                // A required object with nothing required inside: no measure could say it is missing.
                out.push((path, true));
            }
        } else {
            out.push((path, child_required));
        }
    }
}

fn check_code(spec: &CodeSpec) -> Vec<String> {
    let body = [Node::root(&schema_file(spec.code))];
    let mut problems: Vec<String> = spec.measures.iter().flat_map(|m| check_measure(m, &body)).collect();
    let (mut expected, mut arrays) = (Vec::new(), Vec::new());
    leaves(&body, &[], &mut expected, &mut arrays, true);
    for (path, required) in &expected {
        let measure = spec.measures.iter().find(|m| m.path.iter().copied().eq(path.iter().map(String::as_str)));
        match measure {
            None => problems.push(format!("{}: no measure for {}", spec.code, path.join("."))),
            Some(m) if *required && !m.required => problems.push(format!("{}: {} is required by the schema", spec.code, m.column)),
            Some(_) => {}
        }
    }
    for path in arrays {
        let dotted = path.join(".");
        if !NO_COLUMN.iter().any(|(code, p, _)| *code == spec.code && *p == dotted) {
            problems.push(format!("{}: {dotted} is an array the catalogue does not cover", spec.code));
        }
    }
    for (_, path, what) in NO_COLUMN.iter().filter(|(code, ..)| *code == spec.code) {
        let keys: Vec<&str> = path.split('.').collect();
        match at_path(&body, &keys) {
            Some(found) if types(&found.nodes).contains(*what) => {}
            _ => problems.push(format!("{}: {path} is listed as an {what} without a column, but the schema has none", spec.code)),
        }
    }
    let mut paths = BTreeSet::new();
    for m in spec.measures {
        if !paths.insert(m.path) {
            problems.push(format!("{}: two measures read {}", spec.code, m.dotted_path()));
        }
    }
    problems
}

#[test]
fn the_catalogue_has_every_code_seen_on_real_servers_and_the_food_entry() {
    let ours: Vec<&str> = CATALOG.iter().map(|s| s.code).collect();
    assert_eq!(set(ours.iter().copied()), set(CODES), "catalogue codes");
    assert_eq!(ours.len(), CODES.len(), "a code is listed twice");
    for code in CODES {
        assert_eq!(crate::decode::omh::catalog::lookup(code).map(|s| s.code), Some(code));
    }
}

#[test]
fn every_entry_matches_its_schema() {
    let problems: Vec<String> = CATALOG.iter().flat_map(check_code).collect();
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
}

/// The checker itself: a deliberately wrong entry is caught, each way it can be wrong.
#[test]
fn the_schema_check_catches_wrong_entries() {
    use crate::decode::omh::catalog::unit;
    const KG: &[UnitConversion] = &[unit("kg", 1.0)];
    const KG_STONE: &[UnitConversion] = &[unit("kg", 1.0), unit("stone", 6.35029318)];
    let body = [Node::root(&schema_file("omh:body-weight:3.0"))];
    let weight = |kind, required| Measure { column: "w", path: &["body_weight"], kind, required };
    let ok = weight(MeasureKind::Quantity { units: KG, stated: None }, true);
    let problems = check_measure(&ok, &body);
    assert!(problems.iter().any(|p| p.contains("missing") && p.contains("\"lb\"")), "{problems:?}");
    let extra = weight(MeasureKind::Quantity { units: KG_STONE, stated: Some("w") }, true);
    assert!(check_measure(&extra, &body).iter().any(|p| p.contains("not allowed") && p.contains("stone")));
    let optional = weight(MeasureKind::Quantity { units: KG, stated: None }, false);
    assert!(check_measure(&optional, &body).iter().any(|p| p.contains("required is false")));
    let category = weight(MeasureKind::Category, true);
    assert!(check_measure(&category, &body).iter().any(|p| p.contains("no enumeration")));
    let nowhere = Measure { column: "x", path: &["body_height"], kind: MeasureKind::Number, required: false };
    assert!(check_measure(&nowhere, &body)[0].contains("no such property"));
    let statistic = Measure { column: "s", path: &["descriptive_statistic"], kind: MeasureKind::Text, required: false };
    assert!(check_measure(&statistic, &body)[0].contains("free text"));
    // A code missing a measure, and a schema-required property left optional.
    let missing = CodeSpec { code: "omh:body-weight:3.0", measures: &[] };
    let problems = check_code(&missing);
    assert!(problems.iter().any(|p| p.contains("no measure for body_weight")), "{problems:?}");
    assert!(problems.iter().any(|p| p.contains("no measure for descriptive_statistic")), "{problems:?}");
    // Allowed units intersect through allOf: rr-interval narrows duration units to ms.
    let rr = [Node::root(&schema_file("omh:rr-interval:1.0"))];
    assert_eq!(units(&at_path(&rr, &["rr_interval"]).unwrap().nodes), Some(set(["ms"])));
    // ... and unite through oneOf: a food amount is a mass, a volume or a bare value.
    let food = [Node::root(&schema_file("ieee:food-entry:0.1"))];
    let amount_units = units(&at_path(&food, &["food_amount"]).unwrap().nodes).unwrap();
    assert!(amount_units.contains("Metric Ton") && amount_units.contains("tbsp"), "{amount_units:?}");
    // Nested requirements: total_sleep_time is required inside a required sleep_stage_summary.
    let stages = [Node::root(&schema_file("ieee:sleep-stage-summary:1.0"))];
    assert!(at_path(&stages, &["sleep_stage_summary", "total_sleep_time"]).unwrap().required);
    assert!(!at_path(&stages, &["sleep_stage_summary", "rem_sleep_duration"]).unwrap().required);
}

/// Every Arrow column the catalogue makes (a quantity's stated `{stem}_value`/`{stem}_unit`,
/// an amount's `{column}_value`/`{column}_unit` included) is unique across the catalogue and
/// differs from the columns every row has.
#[test]
fn emitted_column_names_are_unique() {
    const COMMON: &[&str] = &[
        "observation_id", "patient_id", "patient_name", "code", "timestamp", "effective_start", "effective_end",
        "utc_offset", "last_updated", "created", "uuid", "duplicate_uuid", "modality", "source_name", "data_source",
    ];
    let mut seen: BTreeMap<String, &str> = COMMON.iter().map(|c| (c.to_string(), "every row")).collect();
    for spec in CATALOG {
        for m in spec.measures {
            let mut names = vec![m.column.to_string()];
            match &m.kind {
                MeasureKind::Quantity { stated: Some(stem), .. } => names.extend([format!("{stem}_value"), format!("{stem}_unit")]),
                MeasureKind::Amount => names.extend([format!("{}_value", m.column), format!("{}_unit", m.column)]),
                _ => {}
            }
            for name in names {
                assert!(
                    name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                    "{name} is not snake_case"
                );
                if let Some(other) = seen.insert(name.clone(), spec.code) {
                    panic!("{name} of {} is also a column of {other}", spec.code);
                }
            }
        }
    }
}
