"""Payment processors: connections (sealed credentials), routes, and the adapters (simulator, Stripe)."""
