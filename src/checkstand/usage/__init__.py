"""Metered usage: the events a merchant reports for a customer, and their totals per billing period."""
