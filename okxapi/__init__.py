"""A signed, rate-limited OKX v5 REST client for reading accounts. Imports nothing from Django."""
