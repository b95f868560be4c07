"""The Paid dialect, served under ``/api/v2`` for the ``paid-python`` SDK."""

PREFIX = "/api/v2"
