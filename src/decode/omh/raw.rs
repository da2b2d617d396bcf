//! JSON objects read only as deep as they are asked: an object's keys, each value kept as
//! the raw JSON text it was and parsed (into the one type the reader wants) only when
//! asked for. An OMH body is read this way, so decoding a catalogued code builds no
//! `serde_json::Value` tree, and its measures go straight into typed values.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// A JSON object's members, borrowed from the text they were read from.
#[derive(Debug, Default)]
pub struct RawObject<'a> {
    members: Vec<(Cow<'a, str>, &'a RawValue)>,
}

impl<'a> RawObject<'a> {
    /// Read `json` (an object) into its members.
    pub fn parse(json: &'a str) -> serde_json::Result<Self> {
        serde_json::from_str(json)
    }

    /// The object a raw value holds; `None` when it holds something else.
    pub fn of(raw: &'a RawValue) -> Option<Self> {
        Self::parse(raw.get()).ok()
    }

    /// The value of `key`, if present and not null. A repeated key reads as its last
    /// occurrence, as `serde_json::Value` reads it.
    pub fn get(&self, key: &str) -> Option<&'a RawValue> {
        let (_, value) = self.members.iter().rev().find(|(name, _)| name == key)?;
        (value.get() != "null").then_some(*value)
    }

    /// The value at `path` below this object (every step an object), if present and not null.
    pub fn at(&self, path: &[&str]) -> Option<&'a RawValue> {
        let (first, rest) = path.split_first()?;
        let mut value = self.get(first)?;
        for key in rest {
            value = Self::of(value)?.get(key)?;
        }
        Some(value)
    }

    /// The members, in the order the text wrote them.
    pub fn members(&self) -> impl Iterator<Item = (&str, &'a RawValue)> {
        self.members.iter().map(|(name, value)| (name.as_ref(), *value))
    }
}

/// `raw` read as `T`, or `None` when it is JSON of another type.
pub fn read_as<'a, T: Deserialize<'a>>(raw: &'a RawValue) -> Option<T> {
    serde_json::from_str(raw.get()).ok()
}

/// `raw` as a string (escapes resolved), or `None` when it is not one.
pub fn text(raw: &RawValue) -> Option<Cow<'_, str>> {
    // `Cow<str>` alone deserializes as owned; this borrows when there are no escapes.
    #[derive(serde::Deserialize)]
    struct Text<'a>(#[serde(borrow)] Cow<'a, str>);
    read_as::<Text<'_>>(raw).map(|Text(text)| text)
}

/// `raw` as a number, or `None` when it is not one.
pub fn number(raw: &RawValue) -> Option<f64> {
    read_as(raw)
}

impl<'de: 'a, 'a> Deserialize<'de> for RawObject<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Members<'a>(std::marker::PhantomData<&'a ()>);

        impl<'de: 'a, 'a> Visitor<'de> for Members<'a> {
            type Value = RawObject<'a>;

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a JSON object")
            }

            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                #[derive(serde::Deserialize)]
                struct Key<'a>(#[serde(borrow)] Cow<'a, str>);
                // serde_json gives no size hint; an OMH body has about eight members.
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(Key(name)) = map.next_key::<Key<'de>>()? {
                    members.push((name, map.next_value::<&'de RawValue>()?));
                }
                Ok(RawObject { members })
            }
        }

        deserializer.deserialize_map(Members(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_read_lazily_and_by_path() {
        let object = RawObject::parse(r#"{"a": {"b": {"value": 5, "unit": "mg\/dL"}}, "n": null, "s": "x", "a2": 1, "a2": 2}"#).unwrap();
        let leaf = object.at(&["a", "b"]).unwrap();
        let quantity = RawObject::of(leaf).unwrap();
        assert_eq!(quantity.get("value").and_then(number), Some(5.0));
        assert_eq!(quantity.get("unit").and_then(text).as_deref(), Some("mg/dL"), "escapes resolved");
        assert!(object.get("n").is_none(), "null reads as absent");
        assert!(object.at(&["s", "deeper"]).is_none(), "a string has no members");
        assert_eq!(object.get("a2").and_then(number), Some(2.0), "the last of a repeated key");
        assert_eq!(object.get("s").and_then(text).as_deref(), Some("x"));
        assert!(matches!(object.get("s").and_then(text), Some(Cow::Borrowed(_))));
        assert_eq!(object.get("s").and_then(number), None);
        assert!(RawObject::parse("[1, 2]").is_err());
        assert!(RawObject::parse(r#"{"a": tru}"#).is_err(), "the whole text is checked");
    }
}
