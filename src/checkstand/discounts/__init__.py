"""Coupons, promotion codes and the one function that applies a discount to an amount."""
