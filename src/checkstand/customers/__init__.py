"""Customers of a merchant: who pays."""
