"""LoggerPort over the standard library's logging, writing to stderr."""

from __future__ import annotations

import logging
import sys

LOGGER_NAME = "deltaglider"


def std_logger(level: str) -> logging.Logger:
    """The `deltaglider` logger at `level`, with one stderr handler (set up once)."""
    logger = logging.getLogger(LOGGER_NAME)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("deltaglider %(levelname)s: %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(level)
    return logger
