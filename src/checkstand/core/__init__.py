"""Pieces every module shares: ids, money, clock, errors, pagination, idempotency, auth."""
