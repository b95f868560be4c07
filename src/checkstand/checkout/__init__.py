"""Checkout sessions: what a customer is asked to pay, and the lifecycle from open to success or expired."""
