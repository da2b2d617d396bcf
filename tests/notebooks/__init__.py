"""The quickstart notebook."""
