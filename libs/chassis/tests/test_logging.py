from __future__ import annotations

import json
import logging
import logging.config
import sys
from typing import Any

import pytest

from chassis.logging import JsonFormatter, TextFormatter, logging_config

pytestmark = pytest.mark.unit


def _log_record(**extra: Any) -> logging.LogRecord:
    record = logging.LogRecord("svc.test", logging.INFO, __file__, 1, "applied %s", ("event",), None)
    record.__dict__.update(extra)
    return record


def test_json_log_lines_carry_extra_fields() -> None:
    line = JsonFormatter().format(_log_record(event_id="e-1", topic="t", partition=3, offset=42))

    entry = json.loads(line)
    assert entry["message"] == "applied event"
    assert entry["level"] == "INFO"
    assert entry["logger"] == "svc.test"
    assert entry["ts"].endswith("+00:00")
    assert (entry["event_id"], entry["topic"], entry["partition"], entry["offset"]) == ("e-1", "t", 3, 42)


def test_json_extras_never_replace_the_standard_keys_and_any_value_is_written() -> None:
    entry = json.loads(JsonFormatter().format(_log_record(level="forged", when=object)))

    assert entry["level"] == "INFO"
    assert entry["when"] == str(object)


def test_json_log_lines_include_the_traceback() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())

    entry = json.loads(JsonFormatter().format(record))
    assert "ValueError: boom" in entry["exc_info"]


def test_text_log_lines_carry_extra_fields() -> None:
    line = TextFormatter().format(_log_record(event_id="e-1", offset=42))

    assert "applied event" in line
    assert "event_id=e-1 offset=42" in line


def test_text_extras_go_on_the_first_line_before_the_traceback() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    record.event_id = "e-1"

    first, _, rest = TextFormatter().format(record).partition("\n")
    assert first.endswith("failed [event_id=e-1]")
    assert "ValueError: boom" in rest


@pytest.mark.parametrize("formatter", ["json", "text"])
def test_logging_config_is_a_valid_dict_config(formatter: str) -> None:
    config = logging_config(formatter=formatter, level="WARNING", loggers={"x": {"handlers": []}})

    configurator = logging.config.DictConfigurator(config)
    built = configurator.configure_formatter(config["formatters"][formatter])
    assert type(built) is {"json": JsonFormatter, "text": TextFormatter}[formatter]
    assert config["handlers"]["stderr"]["formatter"] == formatter
    assert config["root"] == {"handlers": ["stderr"], "level": "WARNING"}
