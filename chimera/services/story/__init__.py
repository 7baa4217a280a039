"""A task's whole story: its parts (``model``), their assembly (``build``), the service."""
