"""The Python API: configuration, errors, results in every form, async, progress, display."""
