"""The two wire dialects. Routers parse and render; the rules live in the domain services."""
