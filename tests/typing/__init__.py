"""The type stubs and the README's examples under mypy."""
