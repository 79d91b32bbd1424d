"""The library version; part of every run's config hash (see `attnlib.config.config_hash`)."""

__version__ = "0.1.0"
