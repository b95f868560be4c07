"""Checkstand: a self-hosted checkout service."""

__version__ = "0.1.0"
