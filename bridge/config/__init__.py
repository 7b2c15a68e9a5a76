"""Configuration: one frozen, typed object loaded once and passed down."""

from bridge.config.load import ConfigError, load_config
from bridge.config.model import Config

__all__ = ["Config", "ConfigError", "load_config"]
