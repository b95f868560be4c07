"""Subscriptions ("orders"): what a checkout with a recurring price leaves behind, billed every interval."""
