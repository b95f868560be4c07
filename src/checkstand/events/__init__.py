"""The event log (the transactional outbox): typed event types and the events domain modules record."""
