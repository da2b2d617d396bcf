"""Decoding: values, units, times, columns, layouts and damaged records."""
