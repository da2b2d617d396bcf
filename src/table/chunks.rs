//! Joining a table's chunks (one per page, built where the page was decoded) into one
//! table, column by column: each chunk's column is freed as soon as it is joined, so the
//! peak is the table plus one column, not two tables. Dictionary columns get one dictionary
//! of distinct values, as a single dictionary builder would have made them (Arrow's
//! `concat` would keep every chunk's values, repeats included, which pandas cannot take as
//! categories).

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::builder::{ArrayBuilder, PrimitiveBuilder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::Int32Type;
use arrow_array::{Array, ArrayRef, DictionaryArray, RecordBatch};
use arrow_schema::DataType;

use super::columns::dictionary_type;

/// One table of `chunks`, which share a schema, in their order. There is at least one.
pub(super) fn join(mut chunks: Vec<RecordBatch>) -> RecordBatch {
    if chunks.len() == 1 {
        return chunks.pop().expect("one chunk");
    }
    let schema = chunks.first().expect("a table has at least one chunk").schema();
    let mut columns_of_chunks: Vec<std::vec::IntoIter<ArrayRef>> = chunks
        .into_iter()
        .map(|chunk| {
            debug_assert_eq!(chunk.schema(), schema, "chunks of one table share its schema");
            chunk.into_parts().1.into_iter()
        })
        .collect();
    let columns = schema
        .fields()
        .iter()
        .map(|field| {
            let pieces: Vec<ArrayRef> = columns_of_chunks.iter_mut().map(|columns| columns.next().expect("one column per field")).collect();
            join_column(field.data_type(), &pieces)
        })
        .collect();
    RecordBatch::try_new(schema, columns).expect("joined columns match their schema")
}

fn join_column(data_type: &DataType, pieces: &[ArrayRef]) -> ArrayRef {
    if *data_type == dictionary_type() {
        return Arc::new(join_dictionaries(pieces));
    }
    let pieces: Vec<&dyn Array> = pieces.iter().map(|piece| piece.as_ref()).collect();
    arrow_select::concat::concat(&pieces).expect("pieces of one column share its type")
}

/// String dictionaries joined into one whose values are distinct, in order of first
/// appearance; each chunk's keys mapped onto it.
fn join_dictionaries(pieces: &[ArrayRef]) -> DictionaryArray<Int32Type> {
    let rows = pieces.iter().map(|piece| piece.len()).sum();
    let mut keys = PrimitiveBuilder::<Int32Type>::with_capacity(rows);
    let mut values = StringBuilder::new();
    let mut index: HashMap<&str, i32> = HashMap::new();
    for piece in pieces {
        let dictionary = piece.as_dictionary::<Int32Type>();
        let texts = dictionary.values().as_string::<i32>();
        let mapping: Vec<i32> = texts
            .iter()
            .map(|text| {
                let text = text.unwrap_or_default();
                *index.entry(text).or_insert_with(|| {
                    values.append_value(text);
                    (values.len() - 1) as i32
                })
            })
            .collect();
        for key in dictionary.keys() {
            keys.append_option(key.map(|key| mapping[key as usize]));
        }
    }
    DictionaryArray::try_new(keys.finish(), Arc::new(values.finish())).expect("every key indexes the joined values")
}

#[cfg(test)]
pub(super) mod tests {
    use arrow_array::builder::StringDictionaryBuilder;
    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::{Field, Schema};

    use super::*;

    pub(in crate::table) fn chunk(ids: &[i64], units: &[Option<&str>]) -> RecordBatch {
        let mut dictionary = StringDictionaryBuilder::<Int32Type>::new();
        units.iter().for_each(|unit| dictionary.append_option(*unit));
        let schema = Schema::new(vec![Field::new("id", DataType::Int64, true), Field::new("unit", dictionary_type(), true)]);
        RecordBatch::try_new(Arc::new(schema), vec![Arc::new(Int64Array::from(ids.to_vec())), Arc::new(dictionary.finish())]).unwrap()
    }

    #[test]
    fn chunks_join_in_order_with_one_dictionary_of_distinct_values() {
        let joined = join(vec![
            chunk(&[1, 2], &[Some("mg/dL"), None]),
            chunk(&[3], &[Some("mmol/L")]),
            chunk(&[4, 5], &[Some("mmol/L"), Some("mg/dL")]),
        ]);
        assert_eq!(joined.column(0).as_primitive::<arrow_array::types::Int64Type>().values().to_vec(), [1, 2, 3, 4, 5]);
        let units = joined.column(1).as_dictionary::<Int32Type>();
        assert_eq!(units.values().as_string::<i32>(), &StringArray::from(vec!["mg/dL", "mmol/L"]));
        let read: Vec<Option<&str>> = units.downcast_dict::<arrow_array::StringArray>().unwrap().into_iter().collect();
        assert_eq!(read, [Some("mg/dL"), None, Some("mmol/L"), Some("mmol/L"), Some("mg/dL")]);
    }
}
