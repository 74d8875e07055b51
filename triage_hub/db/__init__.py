"""The data layer: the only place SQL runs."""
