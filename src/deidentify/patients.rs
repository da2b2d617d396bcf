//! The patients of a result: each one's key (pseudonym, date shift) computed once, and, for
//! Safe Harbor, the first effective time of each across every table of the result.

use std::collections::HashMap;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMicrosecondType};
use arrow_array::RecordBatch;

use super::keyed::{Keys, PatientKey};

pub(super) const PATIENT_ID: &str = "patient_id";
pub(super) const EFFECTIVE_START: &str = "effective_start";

/// Each distinct patient, by the index its rows point at.
pub(super) struct Patients {
    pub keys: Vec<PatientKey>,
    /// The earliest `effective_start` of the patient (µs), when any row has one.
    pub first_start: Vec<Option<i64>>,
    index: HashMap<i64, u32>,
}

impl Patients {
    /// Every patient of `tables`, in order of first appearance.
    pub(super) fn of(tables: &[&RecordBatch], keys: &Keys) -> Self {
        let mut patients = Self { keys: Vec::new(), first_start: Vec::new(), index: HashMap::new() };
        for batch in tables {
            let rows = patients.rows_adding(batch, keys);
            if let Some(starts) = batch.column_by_name(EFFECTIVE_START) {
                patients.note_starts(&rows, starts.as_primitive::<TimestampMicrosecondType>());
            }
        }
        patients
    }

    /// The patient index of each row of `batch` (None where the row has no patient).
    pub(super) fn rows(&self, batch: &RecordBatch) -> Vec<Option<u32>> {
        patient_ids(batch).iter().map(|id| id.and_then(|id| self.index.get(&id).copied())).collect()
    }

    fn rows_adding(&mut self, batch: &RecordBatch, keys: &Keys) -> Vec<Option<u32>> {
        let ids = patient_ids(batch);
        let mut rows = Vec::with_capacity(ids.len());
        // Rows come newest first, so one patient's rows are rarely adjacent: the map decides.
        for id in ids.iter() {
            rows.push(id.map(|id| {
                *self.index.entry(id).or_insert_with(|| {
                    self.keys.push(keys.patient(id));
                    self.first_start.push(None);
                    (self.keys.len() - 1) as u32
                })
            }));
        }
        rows
    }

    fn note_starts(&mut self, rows: &[Option<u32>], starts: &arrow_array::TimestampMicrosecondArray) {
        for (patient, start) in rows.iter().zip(starts.iter()) {
            if let (Some(patient), Some(start)) = (patient, start) {
                let first = &mut self.first_start[*patient as usize];
                *first = Some(first.map_or(start, |first| first.min(start)));
            }
        }
    }
}

fn patient_ids(batch: &RecordBatch) -> &arrow_array::Int64Array {
    batch.column_by_name(PATIENT_ID).expect("every layout has patient_id").as_primitive::<Int64Type>()
}
