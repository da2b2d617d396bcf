//! Tests of the catalogue: against the JSON Schemas, on golden payloads, and under fuzzing.

mod golden;
mod schema;
mod fake;
mod fuzz;
