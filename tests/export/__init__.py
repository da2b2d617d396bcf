"""CSV and Parquet exports."""
