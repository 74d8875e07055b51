"""Triage Hub: a self-hosted AI triage desk."""

__version__ = "0.1.0"
