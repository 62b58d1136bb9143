"""Flask tile server and web map over finished covgap results."""
