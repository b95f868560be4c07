"""Paying a checkout session: checkout attempts over processor routes and cascade tiers, recovery, completion."""
