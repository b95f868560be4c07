"""Merchant accounts and the API keys that act for them."""
