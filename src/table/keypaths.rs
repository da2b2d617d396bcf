//! Columns by key path, for the bodies of codes the catalogue does not know (wide layout).
//! Leaves are gathered column by column as rows arrive, each leaf's key looked up once, so
//! finishing costs one pass over the leaves and one array per column. At most
//! [`MAX_KEY_COLUMNS`] key paths get a column of their own, those the most rows have (then
//! by path); a row's other keys are kept in [`OTHER_KEYS`], a JSON object by key path.
//! So a server sending ever-new keys makes a table of rows × that many columns at most, not
//! rows × keys, and loses nothing.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::ArrayRef;
use arrow_array::StringArray;
use arrow_schema::DataType;
use serde_json::{Map, Value};

use super::columns::Columns;
use super::infer;
use crate::decode::flatten::{Leaf, Leaves};

/// The most key paths of one table that get a column of their own.
pub(super) const MAX_KEY_COLUMNS: usize = 256;

/// The column of every key beyond [`MAX_KEY_COLUMNS`], per row a JSON object.
pub(super) const OTHER_KEYS: &str = "body_other";

struct KeyColumn {
    /// The key path as the body writes it (`mood.score`; a quantity's `level_value`).
    path: String,
    /// 0 for a path's first leaf in a row; 1 for a second leaf of the same path in one row
    /// (a key `a.b` beside `a: {b}`), ...
    repeat: u32,
    /// `(row, leaf)` for the rows that have it, in row order.
    cells: Vec<(u32, Leaf)>,
}

/// The leaves of one table's rows, column by column.
#[derive(Default)]
pub(super) struct KeyPathColumns {
    rows: u32,
    columns: Vec<KeyColumn>,
    /// Per key path, its columns, one per repeat.
    by_path: HashMap<String, Vec<usize>>,
}

impl KeyPathColumns {
    /// One row's leaves (a quantity as `{path}_value` and `{path}_unit`).
    pub(super) fn push_row(&mut self, leaves: Leaves) {
        let row = self.rows;
        self.rows += 1;
        for (path, leaf) in leaves {
            match leaf {
                Leaf::Quantity(number, unit) => {
                    self.push_leaf(row, format!("{path}_value"), Leaf::Number(number));
                    if let Some(unit) = unit {
                        self.push_leaf(row, format!("{path}_unit"), Leaf::Text(unit));
                    }
                }
                other => self.push_leaf(row, path, other),
            }
        }
    }

    fn push_leaf(&mut self, row: u32, path: String, leaf: Leaf) {
        let Self { columns, by_path, .. } = self;
        let slots = match by_path.get_mut(path.as_str()) {
            Some(slots) => slots,
            None => by_path.entry(path.clone()).or_default(),
        };
        let free = slots.iter().copied().find(|&i| columns[i].cells.last().is_none_or(|(last, _)| *last != row));
        let index = free.unwrap_or_else(|| {
            columns.push(KeyColumn { path, repeat: slots.len() as u32, cells: Vec::new() });
            slots.push(columns.len() - 1);
            columns.len() - 1
        });
        columns[index].cells.push((row, leaf));
    }

    /// How many columns of their own the rows' keys make (at most [`MAX_KEY_COLUMNS`]).
    #[cfg(test)]
    pub(super) fn column_count(&self) -> usize {
        self.columns.len().min(MAX_KEY_COLUMNS)
    }

    /// The columns, sorted by key path, named by it with `_` for `.`, then (if any key is
    /// left over) [`OTHER_KEYS`].
    pub(super) fn finish(self, out: &mut Columns) {
        self.finish_with(out, |path| path.replace('.', "_"));
    }

    /// [`Self::finish`], each column named `name(path)`.
    pub(super) fn finish_with(self, out: &mut Columns, name: impl Fn(&str) -> String) {
        let rows = self.rows as usize;
        let mut columns = self.columns;
        let mut others = Vec::new();
        if columns.len() > MAX_KEY_COLUMNS {
            columns.sort_by(|a, b| b.cells.len().cmp(&a.cells.len()).then_with(|| (&a.path, a.repeat).cmp(&(&b.path, b.repeat))));
            others = columns.split_off(MAX_KEY_COLUMNS);
        }
        columns.sort_by(|a, b| (&a.path, a.repeat).cmp(&(&b.path, b.repeat)));
        let mut dense: Vec<Option<&Leaf>> = Vec::with_capacity(rows);
        for column in &columns {
            dense.clear();
            dense.resize(rows, None);
            for (row, leaf) in &column.cells {
                dense[*row as usize] = Some(leaf);
            }
            let (data_type, array) = infer::body_array(&dense);
            out.push_named_by_data(name(&column.path), data_type, array);
        }
        if !others.is_empty() {
            out.push_named_by_data(OTHER_KEYS.to_string(), DataType::Utf8, other_keys(others, rows));
        }
    }
}

/// Per row, its leaves of `columns` as one JSON object by key path (a repeat as `path#2`).
fn other_keys(mut columns: Vec<KeyColumn>, rows: usize) -> ArrayRef {
    columns.sort_by(|a, b| (&a.path, a.repeat).cmp(&(&b.path, b.repeat)));
    let mut objects: Vec<Option<Map<String, Value>>> = vec![None; rows];
    for column in columns {
        let key = if column.repeat == 0 { column.path } else { format!("{}#{}", column.path, column.repeat + 1) };
        for (row, leaf) in column.cells {
            objects[row as usize].get_or_insert_with(Map::new).insert(key.clone(), json_value(leaf));
        }
    }
    Arc::new(objects.into_iter().map(|object| object.map(|o| Value::Object(o).to_string())).collect::<StringArray>())
}

fn json_value(leaf: Leaf) -> Value {
    match leaf {
        Leaf::Number(n) => Value::Number(n),
        Leaf::Text(t) => Value::String(t),
        Leaf::Bool(b) => Value::Bool(b),
        Leaf::Json(text) => serde_json::from_str(&text).unwrap_or(Value::String(text)),
        Leaf::Quantity(n, unit) => serde_json::json!({"value": n, "unit": unit}),
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::cast::AsArray;
    use arrow_array::types::Float64Type;
    use arrow_array::{Array, RecordBatch};

    use super::*;

    fn finished(columns: KeyPathColumns) -> RecordBatch {
        let mut out = Columns::default();
        columns.finish(&mut out);
        out.into_batch()
    }

    fn row(pairs: &[(&str, i64)]) -> Leaves {
        pairs.iter().map(|(path, n)| (path.to_string(), Leaf::Number((*n).into()))).collect()
    }

    #[test]
    fn ever_new_keys_make_at_most_the_limit_of_columns_and_lose_nothing() {
        let (rows, keys) = (3_000, 10);
        let mut columns = KeyPathColumns::default();
        // one key every row has, then keys no other row has
        for r in 0..rows {
            let mut leaves = row(&[("shared", r)]);
            leaves.extend((0..keys).map(|k| (format!("k{r}.{k}"), Leaf::Number(k.into()))));
            columns.push_row(leaves);
        }
        assert_eq!(columns.column_count(), MAX_KEY_COLUMNS, "not one column per key");
        let batch = finished(columns);
        assert_eq!(batch.num_columns(), MAX_KEY_COLUMNS + 1);
        assert_eq!(batch.column(batch.num_columns() - 1).len(), rows as usize);
        // the key every row has keeps its column; the others are in body_other, row by row
        let shared = batch.column_by_name("shared").unwrap().as_primitive::<Float64Type>();
        assert_eq!(shared.null_count(), 0);
        let other = batch.column_by_name(OTHER_KEYS).unwrap().as_string::<i32>();
        let last: Value = serde_json::from_str(other.value(rows as usize - 1)).unwrap();
        let expected: Map<String, Value> = (0..keys).map(|k| (format!("k{}.{k}", rows - 1), Value::from(k))).collect();
        assert_eq!(last, Value::Object(expected));
        let kept_as_columns = batch.num_columns() - 2;
        let in_other: usize = other.iter().flatten().map(|o| serde_json::from_str::<Map<String, Value>>(o).unwrap().len()).sum();
        assert_eq!(kept_as_columns + in_other, (rows * keys) as usize, "every leaf, once");
    }

    #[test]
    fn a_path_twice_in_one_row_keeps_both_leaves() {
        let mut columns = KeyPathColumns::default();
        // `{"a.b": 1, "a": {"b": 2}}` flattens to the path a.b twice; `level_value` beside a quantity `level`
        columns.push_row(row(&[("a.b", 1), ("a.b", 2), ("level_value", 4)]));
        columns.push_row(vec![("level".into(), Leaf::Quantity(3.into(), Some("dB".into())))]);
        let batch = finished(columns);
        let names: Vec<&str> = batch.schema_ref().fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["a_b", "body_a_b", "level_unit", "level_value"]);
        let value = |name: &str, i: usize| batch.column_by_name(name).unwrap().as_primitive::<Float64Type>().value(i);
        assert_eq!((value("a_b", 0), value("body_a_b", 0), value("level_value", 0), value("level_value", 1)), (1.0, 2.0, 4.0, 3.0));
    }
}
