"""Pages people see in a browser: the hosted checkout page, the dashboard and the simulator's 3-D Secure challenge."""
