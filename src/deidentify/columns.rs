//! The arrays de-identification makes, one function per kind of column. Each takes the
//! original array and the patient index of each row, and builds its replacement whole.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, ArrayRef, DictionaryArray, DurationMicrosecondArray, Int32Array, PrimitiveArray, StringArray};
use arrow_buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};

use super::keyed::{Keys, PSEUDONYM_LEN};
use super::patients::Patients;
use crate::error::{JheError, Result};
use crate::origin::IMPORTED_SOURCE_BASE;

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Rows below which hashing stays on the calling thread.
const ROWS_PER_THREAD: usize = 16_384;

/// The patients' pseudonyms, as a dictionary of the distinct ones (a patient has many rows).
pub(super) fn pseudonyms(rows: &[Option<u32>], patients: &Patients) -> ArrayRef {
    let values = StringArray::from_iter_values(patients.keys.iter().map(|key| key.pseudonym.as_str()));
    let keys: Int32Array = rows.iter().map(|row| row.map(|index| index as i32)).collect();
    Arc::new(DictionaryArray::<Int32Type>::try_new(keys, Arc::new(values)).expect("keys index the patients"))
}

/// Each observation id's pseudonym: fixed-width hex, hashed on several threads.
pub(super) fn observation_pseudonyms(ids: &dyn Array, keys: &Keys) -> ArrayRef {
    let ids = ids.as_primitive::<Int64Type>();
    let mut values = vec![0u8; ids.len() * PSEUDONYM_LEN];
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(ids.len() / ROWS_PER_THREAD).max(1);
    let rows_per_chunk = ids.len().div_ceil(threads).max(1);
    let hash_chunk = |first_row: usize, out: &mut [u8]| {
        for (row, slot) in (first_row..).zip(out.chunks_exact_mut(PSEUDONYM_LEN)) {
            if ids.is_valid(row) {
                keys.observation_into(ids.value(row), slot);
            }
        }
    };
    std::thread::scope(|scope| {
        for (chunk, out) in values.chunks_mut(rows_per_chunk * PSEUDONYM_LEN).enumerate() {
            let hash_chunk = &hash_chunk;
            scope.spawn(move || hash_chunk(chunk * rows_per_chunk, out));
        }
    });
    let offsets = OffsetBuffer::new(ScalarBuffer::from_iter((0..=ids.len()).map(|row| (row * PSEUDONYM_LEN) as i32)));
    Arc::new(StringArray::try_new(offsets, Buffer::from_vec(values), ids.nulls().cloned()).expect("hex is UTF-8"))
}

/// Each time moved by its patient's shift, in whole days; null where the row has no patient
/// (its shift is unknown, and the true time must not show).
pub(super) fn shifted(times: &dyn Array, rows: &[Option<u32>], shift_days: &[i64]) -> Result<ArrayRef> {
    let times = times.as_primitive::<TimestampMicrosecondType>();
    let mut valid = Vec::with_capacity(times.len());
    let mut values = Vec::with_capacity(times.len());
    for (time, row) in times.iter().zip(rows) {
        let moved = match (time, row) {
            (Some(time), Some(patient)) => Some(
                time.checked_add(shift_days[*patient as usize] * MICROS_PER_DAY)
                    .ok_or_else(|| JheError::Config(format!("a time of {time} µs cannot be shifted: it is out of range")))?,
            ),
            _ => None,
        };
        valid.push(moved.is_some());
        values.push(moved.unwrap_or_default());
    }
    let array = PrimitiveArray::<TimestampMicrosecondType>::new(values.into(), Some(NullBuffer::from(valid)));
    Ok(Arc::new(array.with_timezone_opt(times.timezone())))
}

/// Each time as the time since its patient's first observation (Safe Harbor keeps no date).
pub(super) fn since_first(times: &dyn Array, rows: &[Option<u32>], patients: &Patients) -> ArrayRef {
    let times = times.as_primitive::<TimestampMicrosecondType>();
    let since: DurationMicrosecondArray = times
        .iter()
        .zip(rows)
        .map(|(time, row)| {
            let first = patients.first_start[(*row)? as usize]?;
            time?.checked_sub(first)
        })
        .collect();
    Arc::new(since)
}

/// The year of each row's patient's first observation (Safe Harbor keeps the year).
pub(super) fn first_years(rows: &[Option<u32>], patients: &Patients) -> ArrayRef {
    let years: Int32Array = rows
        .iter()
        .map(|row| {
            let first = patients.first_start[(*row)? as usize]?;
            chrono::DateTime::from_timestamp_micros(first).map(|time| chrono::Datelike::year(&time))
        })
        .collect();
    Arc::new(years)
}

/// Each imported record's FHIR id, as its keyed pseudonym (fixed-width hex).
/// `None` for a column of another type (it is then not jhe's).
pub(super) fn record_pseudonyms(ids: &dyn Array, keys: &Keys) -> Option<ArrayRef> {
    let ids = ids.as_string_opt::<i32>()?;
    let mut values = vec![0u8; ids.len() * PSEUDONYM_LEN];
    for (id, slot) in ids.iter().zip(values.chunks_exact_mut(PSEUDONYM_LEN)) {
        if let Some(id) = id {
            keys.record_into(id, slot);
        }
    }
    let offsets = OffsetBuffer::new(ScalarBuffer::from_iter((0..=ids.len()).map(|row| (row * PSEUDONYM_LEN) as i32)));
    Some(Arc::new(StringArray::try_new(offsets, Buffer::from_vec(values), ids.nulls().cloned()).expect("hex is UTF-8")))
}

/// Each row's `source` as its kind only: the Exchange's own, or imported (the FHIR source's
/// id, one per patient's EHR link, is not kept). `None` for a column of another type.
pub(super) fn source_kinds(sources: &dyn Array) -> Option<ArrayRef> {
    let sources = sources.as_dictionary_opt::<Int32Type>()?;
    let kind = |s: &str| if s.starts_with(IMPORTED_SOURCE_BASE) { IMPORTED_SOURCE_BASE.to_string() } else { s.to_string() };
    let kinds: Vec<Option<String>> = sources.values().as_string_opt::<i32>()?.iter().map(|s| s.map(kind)).collect();
    // A dictionary's values stay distinct (pandas refuses repeated categories).
    let mut builder = arrow_array::builder::StringDictionaryBuilder::<Int32Type>::new();
    for key in sources.keys().iter() {
        builder.append_option(key.and_then(|key| kinds[key as usize].as_deref()));
    }
    Some(Arc::new(builder.finish()))
}

/// `column` with the rows `withheld` marks made null.
pub(super) fn withheld(column: &ArrayRef, withheld: &[bool]) -> ArrayRef {
    let kept = NullBuffer::from(withheld.iter().map(|w| !w).collect::<Vec<_>>());
    let nulls = NullBuffer::union(column.logical_nulls().as_ref(), Some(&kept));
    let data = column.to_data().into_builder().nulls(nulls).build().expect("the same array, more nulls");
    arrow_array::make_array(data)
}

/// `rows` copies of an empty string: the errors table's `raw`, withheld.
pub(super) fn empty_strings(rows: usize) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(std::iter::repeat_n("", rows)))
}
