"""Vigil's settings: one frozen tree decoded from vigil.toml plus ``VIGIL_*`` overrides."""

from services.core.config.loader import ConfigError, load_settings
from services.core.config.model import NatsSettings, Settings

__all__ = ["ConfigError", "NatsSettings", "Settings", "load_settings"]
