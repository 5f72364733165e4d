"""mailctl: declarative config-as-code reconciler for SMTP mail settings."""

__version__ = "0.2.0"
