//! OMH uuids carried by more than one observation: flagged in a `duplicate_uuid` column,
//! never merged (two observations with one uuid are still two observations).

use std::collections::HashSet;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, BooleanArray, RecordBatch};
use arrow_schema::{DataType, Field, Schema};

/// An OMH uuid as a map key: a canonical uuid as its 128 bits (no allocation per
/// observation, benchmarks/PROFILE.md), anything else as text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum UuidKey {
    Canonical(u128),
    Other(Box<str>),
}

impl UuidKey {
    pub(super) fn of(text: &str) -> Self {
        // 8-4-4-4-12 lowercase hex digits (other spellings are different texts: kept apart).
        if text.len() == 36 {
            let mut bits: u128 = 0;
            let canonical = text.bytes().enumerate().all(|(i, b)| match (i, b) {
                (8 | 13 | 18 | 23, b'-') => true,
                (8 | 13 | 18 | 23, _) => false,
                (_, b'0'..=b'9') => {
                    bits = bits << 4 | u128::from(b - b'0');
                    true
                }
                (_, b'a'..=b'f') => {
                    bits = bits << 4 | u128::from(b - b'a' + 10);
                    true
                }
                _ => false,
            });
            if canonical {
                return Self::Canonical(bits);
            }
        }
        Self::Other(text.into())
    }
}

/// The uuids of all observations so far: 16 bytes each for canonical ones, where a map of
/// counts would hold a string and a bucket per observation (benchmarks/PROFILE.md).
#[derive(Debug, Default)]
pub(super) struct UuidList {
    canonical: Vec<u128>,
    other: Vec<Box<str>>,
}

impl UuidList {
    pub(super) fn push(&mut self, uuid: &str) {
        self.push_key(UuidKey::of(uuid));
    }

    pub(super) fn push_key(&mut self, uuid: UuidKey) {
        match uuid {
            UuidKey::Canonical(bits) => self.canonical.push(bits),
            UuidKey::Other(text) => self.other.push(text),
        }
    }

    /// The uuids carried by more than one observation, and how many observations carry one.
    pub(super) fn repeated(self) -> (HashSet<UuidKey>, u64) {
        fn runs<T: Ord>(mut keys: Vec<T>, mut found: impl FnMut(T, usize)) {
            keys.sort_unstable();
            let mut keys = keys.into_iter().peekable();
            while let Some(key) = keys.next() {
                let mut n = 1;
                while keys.next_if(|next| *next == key).is_some() {
                    n += 1;
                }
                if n > 1 {
                    found(key, n);
                }
            }
        }
        let mut repeated = HashSet::new();
        let mut observations = 0;
        runs(self.canonical, |bits, n| {
            repeated.insert(UuidKey::Canonical(bits));
            observations += n as u64;
        });
        runs(self.other, |text, n| {
            repeated.insert(UuidKey::Other(text));
            observations += n as u64;
        });
        (repeated, observations)
    }
}

/// The column [`with_duplicate_uuid_flags`] adds once a table is finished.
pub(super) use crate::selection::DUPLICATE_UUID;

/// Add `duplicate_uuid`: true where another observation carries the same OMH uuid.
pub(super) fn with_duplicate_uuid_flags(batch: RecordBatch, repeated: &HashSet<UuidKey>) -> RecordBatch {
    let uuids = batch.column_by_name("uuid").expect("common column").as_string::<i32>();
    let flags: BooleanArray = (0..uuids.len())
        .map(|i| Some(uuids.is_valid(i) && !repeated.is_empty() && repeated.contains(&UuidKey::of(uuids.value(i)))))
        .collect();
    let index = batch.schema().index_of("uuid").expect("common column") + 1;
    let mut fields: Vec<Field> = batch.schema().fields().iter().map(|f| f.as_ref().clone()).collect();
    let mut columns = batch.columns().to_vec();
    fields.insert(index, Field::new(DUPLICATE_UUID, DataType::Boolean, false));
    columns.insert(index, Arc::new(flags));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("one more column of the same length")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_keys_keep_every_distinct_text_apart() {
        let a = "c665a711-ce43-43a5-a2b5-a149125e5f48";
        assert_eq!(UuidKey::of(a), UuidKey::of(a));
        assert_eq!(UuidKey::of(a), UuidKey::Canonical(0xc665a711_ce43_43a5_a2b5_a149125e5f48));
        assert_ne!(UuidKey::of(a), UuidKey::of("c665a711-ce43-43a5-a2b5-a149125e5f49"));
        // Another spelling of the same bits is another text, as a String key would have it.
        assert_eq!(UuidKey::of(&a.to_uppercase()), UuidKey::Other(a.to_uppercase().into()));
        assert_eq!(UuidKey::of("not-a-uuid"), UuidKey::Other("not-a-uuid".into()));
        assert_eq!(UuidKey::of("c665a711ce4343a5a2b5a149125e5f48xxxx"), UuidKey::Other("c665a711ce4343a5a2b5a149125e5f48xxxx".into()));
        let mut list = UuidList::default();
        for uuid in [a, "x", a, "y", "x", a, "c665a711-ce43-43a5-a2b5-a149125e5f49"] {
            list.push(uuid);
        }
        let (repeated, observations) = list.repeated();
        assert_eq!(repeated, HashSet::from([UuidKey::of(a), UuidKey::of("x")]));
        assert_eq!(observations, 5);
    }
}
