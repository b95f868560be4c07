"""The merchant dashboard: server-rendered pages over the same services as the API, for signed-in users."""
