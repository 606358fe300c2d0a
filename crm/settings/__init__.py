"""Settings are split by environment: base (shared), dev, test, prod.

Everything that differs between machines comes from environment variables (see README).
"""
