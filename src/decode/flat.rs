//! The flat layout's rows: an observation as the dict `jupyterhealth-client`'s
//! `tidy_observation` makes of it, flattened where pages are decoded. The table stage
//! (`table::flat`) builds the table.
//!
//! A row is `resource_type` and `code` (the first coding's code), the resource without
//! `valueAttachment`, the OMH header, then the body (a document without `body` is its own
//! body), nested keys joined with `_` and list items by index, in the order the JSON wrote
//! them; a later key of the same name replaces the value and keeps the place. Every
//! `*date_time` key gains a `*_date_time_local` twin at the end.

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::flatten::Leaf;

/// One key of a flattened observation.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// Where the key's name is in [`FlatRow::names`].
    pub name: (u32, u32),
    /// `None` for a JSON null: the key is there, its value is missing.
    pub leaf: Option<Leaf>,
    /// A `*_date_time_local` twin (wall time of the date-time it repeats).
    pub local: bool,
}

/// One observation flattened, ready to append (made where pages are decoded).
#[derive(Debug, Default)]
pub struct FlatRow {
    pub resource: Box<str>,
    /// Every key's name, one after another (one allocation, not one per key).
    pub names: String,
    pub cells: Vec<Cell>,
}

impl FlatRow {
    /// `resource` is the FHIR resource's JSON as received; `document` the decoded OMH JSON
    /// (`None` when it could not be decoded: the row has the resource's keys only).
    pub fn new(resource: &str, document: Option<&[u8]>, code: Option<&str>) -> Self {
        let mut row = Self { resource: resource.into(), names: String::with_capacity(1024), cells: Vec::with_capacity(64) };
        if let Some(code) = code {
            for name in ["resource_type", "code"] {
                row.push(name, Some(Leaf::Text(code.into())), false);
            }
        }
        row.flatten(&mut serde_json::Deserializer::from_str(resource), Some("valueAttachment"));
        if let Some(document) = document {
            row.flatten_document(document);
        }
        for i in 0..row.cells.len() {
            let (start, end) = row.cells[i].name;
            if row.names[start as usize..end as usize].ends_with("date_time") {
                let twin = format!("{}_local", &row.names[start as usize..end as usize]);
                let leaf = row.cells[i].leaf.clone();
                row.push(&twin, leaf, true);
            }
        }
        row
    }

    fn push(&mut self, name: &str, leaf: Option<Leaf>, local: bool) {
        let start = self.names.len() as u32;
        self.names.push_str(name);
        self.cells.push(Cell { name: (start, self.names.len() as u32), leaf, local });
    }

    /// The header's keys, then the body's; a document without `body` is its own body.
    fn flatten_document(&mut self, document: &[u8]) {
        match serde_json::from_slice::<DocumentParts<'_>>(document) {
            Ok(DocumentParts { header, body: Some(body) }) => {
                if let Some(header) = header {
                    self.flatten(&mut serde_json::Deserializer::from_str(header.get()), None);
                }
                self.flatten(&mut serde_json::Deserializer::from_str(body.get()), None);
            }
            _ => self.flatten(&mut serde_json::Deserializer::from_slice(document), None),
        }
    }

    /// Every key of a JSON object or list (but `skip` at its top), by key path, in the order
    /// written; a scalar has no keys. Nothing is added unless the whole text is JSON.
    fn flatten<'de, R: serde_json::de::Read<'de>>(&mut self, deserializer: &mut serde_json::Deserializer<R>, skip: Option<&str>) {
        let (names, cells) = (self.names.len(), self.cells.len());
        let mut path = String::with_capacity(64);
        let flatten = Flatten { path: &mut path, root: true, skip, row: self };
        if flatten.deserialize(&mut *deserializer).and_then(|()| deserializer.end()).is_err() {
            self.names.truncate(names);
            self.cells.truncate(cells);
        }
    }
}

/// Only where an OMH document's header and body are.
#[derive(serde::Deserialize)]
struct DocumentParts<'a> {
    #[serde(borrow)]
    header: Option<&'a RawValue>,
    #[serde(borrow)]
    body: Option<&'a RawValue>,
}

/// Flattens one JSON value at `path` while it is parsed, so keys keep their order.
struct Flatten<'a> {
    /// The key path so far, shared: each key is added for its value and cut off after.
    path: &'a mut String,
    root: bool,
    skip: Option<&'a str>,
    row: &'a mut FlatRow,
}

impl Flatten<'_> {
    fn child(&mut self) -> Flatten<'_> {
        Flatten { path: &mut *self.path, root: false, skip: None, row: &mut *self.row }
    }

    fn leaf<E>(self, leaf: Option<Leaf>) -> Result<(), E> {
        if !self.root {
            self.row.push(self.path, leaf, false);
        }
        Ok(())
    }
}

/// Add `key` to a path as `jupyterhealth_client.flatten_dict` joins keys: with `_`, but
/// after an empty path.
fn push_key(path: &mut String, key: &str) {
    if !path.is_empty() {
        path.push('_');
    }
    path.push_str(key);
}

/// Reads a map key straight onto the path.
struct KeyOnto<'a>(&'a mut String);

impl<'de> DeserializeSeed<'de> for KeyOnto<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyOnto<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E>(self, key: &str) -> Result<(), E> {
        push_key(self.0, key);
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Flatten<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Flatten<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.leaf(Some(Leaf::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.leaf(Some(Leaf::Number(v.into())))
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.leaf(Some(Leaf::Number(v.into())))
    }

    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.leaf(serde_json::Number::from_f64(v).map(Leaf::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.leaf(Some(Leaf::Text(v.to_string())))
    }

    fn visit_string<E>(self, v: String) -> Result<(), E> {
        self.leaf(Some(Leaf::Text(v)))
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.leaf(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        let base = self.path.len();
        for index in 0usize.. {
            push_key(self.path, &index.to_string());
            let more = seq.next_element_seed(self.child())?.is_some();
            self.path.truncate(base);
            if !more {
                break;
            }
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        let base = self.path.len();
        while map.next_key_seed(KeyOnto(self.path))?.is_some() {
            if self.root && self.skip == Some(self.path.as_str()) {
                map.next_value::<IgnoredAny>()?;
            } else {
                map.next_value_seed(self.child())?;
            }
            self.path.truncate(base);
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn names(row: &FlatRow) -> Vec<&str> {
        row.cells.iter().map(|cell| &row.names[cell.name.0 as usize..cell.name.1 as usize]).collect()
    }

    pub(crate) const RESOURCE: &str = r#"{"meta":{"lastUpdated":"2025-01-02T03:04:05.123456Z","source":"urn:s"},"id":"7","identifier":[{"system":"urn:i","value":"ih-7"}],"status":"final","code":{"coding":[{"system":"https://w3id.org/openmhealth","code":"omh:heart-rate:2.0"}]},"valueAttachment":{"contentType":"application/json","data":"e30="},"subject":{"reference":"Patient/1"},"resourceType":"Observation"}"#;
    pub(crate) const DOCUMENT: &str = r#"{"body":{"heart_rate":{"unit":"beats/min","value":61},"effective_time_frame":{"date_time":"2025-01-02T08:00:00+05:30"},"tags":["a",null]},"header":{"uuid":"u","creation_date_time":"2025-01-02T03:00:00Z"}}"#;

    pub(crate) fn row(resource: &str, document: &str) -> FlatRow {
        FlatRow::new(resource, Some(document.as_bytes()), Some("omh:heart-rate:2.0"))
    }

    #[test]
    fn rows_are_the_official_dict_in_order() {
        let flat = row(RESOURCE, DOCUMENT);
        assert_eq!(
            names(&flat),
            [
                "resource_type", "code", "meta_lastUpdated", "meta_source", "id", "identifier_0_system",
                "identifier_0_value", "status", "code_coding_0_system", "code_coding_0_code", "subject_reference",
                "resourceType",
                // the header before the body, whatever order the document wrote them in
                "uuid", "creation_date_time",
                "heart_rate_unit", "heart_rate_value", "effective_time_frame_date_time", "tags_0", "tags_1",
                // every date-time's twin at the end
                "creation_date_time_local", "effective_time_frame_date_time_local",
            ]
        );
        assert_eq!(flat.cells[15].leaf, Some(Leaf::Number(61.into())));
        assert_eq!(flat.cells[18].leaf, None, "a JSON null keeps its key");
        assert!(flat.cells[20].local && !flat.cells[16].local);
        assert_eq!(&*flat.resource, RESOURCE, "the resource as received");
        // a document without a body is its own body; an unreadable one adds nothing
        let bare = row(r#"{"id":"1"}"#, r#"{"header":{"uuid":"u"},"x":{"y":true}}"#);
        assert_eq!(names(&bare), ["resource_type", "code", "id", "header_uuid", "x_y"]);
        let broken = row(r#"{"id":"1"}"#, r#"{"body":{"a":1},"#);
        assert_eq!(names(&broken), ["resource_type", "code", "id"]);
        // an empty path adds no separator, as flatten_dict's empty prefix
        let none = FlatRow::new(r#"{"id":"1","a":{"":{"b":2}},"":{"c":{"d":1}}}"#, None, None);
        assert_eq!(names(&none), ["id", "a__b", "c_d"]);
    }
}
