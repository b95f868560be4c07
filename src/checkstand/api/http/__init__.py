"""HTTP plumbing both dialects share: the API key check, the idempotency guard, middlewares, query dependencies."""
