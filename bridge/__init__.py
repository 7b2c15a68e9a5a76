"""Rocket.Chat ⇄ Matrix bridge that records where personal data went."""

__version__ = "0.1.0"
