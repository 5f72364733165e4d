"""SMTP server fixtures (filled in by the probe work)."""
