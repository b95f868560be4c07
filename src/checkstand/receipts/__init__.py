"""Receipts by email for payments and renewals, through the SMTP server the merchant configures."""
