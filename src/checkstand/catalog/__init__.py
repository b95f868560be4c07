"""Products, prices and product families: what a checkout sells."""
