"""The fake Exchange itself, observed over HTTP without the jhe client."""
