"""Processor connections, processor routes, checkout attempts, payments and the processors themselves."""
