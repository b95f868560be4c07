"""Workers' heartbeats: which workers are alive, for /readyz and /metrics on any process."""
