"""Adapters and helpers: Redis, logging, key names."""
