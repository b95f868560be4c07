"""Webhook endpoints and the delivery of recorded events to them. The event log itself is :mod:`checkstand.events`;
the body a delivery carries is rendered by a dialect that the worker's entry point hands to the dispatcher."""
