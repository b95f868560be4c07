"""The event log (the transactional outbox): the declared event types, recording with the domain's snapshot, and
reading back; rendering an event on the wire is each dialect's job."""
