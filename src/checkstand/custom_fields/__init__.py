"""Custom field definitions and the one validator every module uses to set custom fields."""
