"""The console script, run as a user would."""
