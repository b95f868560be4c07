"""Webhook endpoints and the delivery of recorded events to them."""
