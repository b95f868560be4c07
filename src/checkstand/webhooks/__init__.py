"""Events (the transactional outbox), webhook endpoints and their delivery."""
