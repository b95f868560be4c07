"""The at-rest key's check value: every process of one deployment must hold the same ``CHECKSTAND_SECRET_KEY``."""
