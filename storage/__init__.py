"""Storage: the tables, the async engine and the few functions that query them. Nothing else opens sessions."""
