"""Logging: human-readable text by default, one JSON object per line on request."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from bridge.config.model import LoggingConfig
from bridge.logs import setup_logging


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _emit(config: LoggingConfig) -> str:
    setup_logging(config)
    stream = io.StringIO()
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    logging.getLogger("bridge.test").info("hello %s", "world")
    logging.getLogger("bridge.test").debug("not at INFO")
    return stream.getvalue()


def test_json_format_is_one_object_per_line(restore_logging: None) -> None:
    (line,) = _emit(LoggingConfig(level="INFO", format="json")).splitlines()
    entry = json.loads(line)
    assert (entry["level"], entry["logger"], entry["message"]) == (
        "INFO",
        "bridge.test",
        "hello world",
    )
    assert entry["time"].endswith("+00:00")


def test_text_format_is_for_humans(restore_logging: None) -> None:
    out = _emit(LoggingConfig(level="INFO", format="text"))
    assert "INFO" in out and "bridge.test: hello world" in out
    assert "not at INFO" not in out
