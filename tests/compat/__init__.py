"""jhe.compat against the official jupyterhealth-client 0.5."""
