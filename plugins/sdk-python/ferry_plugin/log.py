"""Logging through the host (`ferry:plugin/host.log`); stderr natively."""

from . import _wit

_LEVELS = {"trace": 0, "debug": 1, "info": 2, "warn": 3, "error": 4}


def log(level: str, message: str) -> None:
    """Write a line to ferry's log, tagged with the plugin's name.
    `level` is one of trace, debug, info, warn, error."""
    if level not in _LEVELS:
        raise ValueError(f"log level must be one of {', '.join(_LEVELS)}; got {level!r}")
    _wit.host_log(_LEVELS[level], str(message))


def debug(message: str) -> None:
    log("debug", message)


def info(message: str) -> None:
    log("info", message)


def warn(message: str) -> None:
    log("warn", message)


def error(message: str) -> None:
    log("error", message)
