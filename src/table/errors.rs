//! The errors table: one row per record that could not be (fully) decoded or has no place
//! in the data tables, with its id, code, every reason and the payload (decoded where it
//! could be, else as sent; empty for an entry that is not an observation). An observation
//! the tables have a place for keeps its row there too: nothing is dropped.

use std::sync::Arc;

use arrow_array::builder::{ArrayBuilder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

/// Records that could not be (fully) decoded.
#[derive(Default)]
pub(super) struct ErrorsBuilder {
    observation_id: Int64Builder,
    code: StringBuilder,
    reason: StringBuilder,
    raw: StringBuilder,
}

impl ErrorsBuilder {
    pub(super) fn len(&self) -> usize {
        self.reason.len()
    }

    pub(super) fn push(&mut self, id: Option<i64>, code: Option<&str>, reason: &str, raw: &str) {
        self.observation_id.append_option(id);
        self.code.append_option(code);
        self.reason.append_value(reason);
        self.raw.append_value(raw);
    }

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("observation_id", DataType::Int64, true),
            Field::new("code", DataType::Utf8, true),
            Field::new("reason", DataType::Utf8, false),
            Field::new("raw", DataType::Utf8, false),
        ]))
    }

    pub(super) fn finish(&mut self) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.observation_id.finish()),
            Arc::new(self.code.finish()),
            Arc::new(self.reason.finish()),
            Arc::new(self.raw.finish()),
        ];
        RecordBatch::try_new(Self::schema(), columns).expect("errors columns match their schema")
    }
}
