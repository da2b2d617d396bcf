"""Fetching: both APIs, both server generations, filters, paging, reconciliation, retries and authentication."""
