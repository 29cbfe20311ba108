"""Keep secrets out of every file evalsuite writes and every line it logs.

API keys are read from environment variables and sent with requests, never stored. They
can still reach a file by other roads: a key typed into an override (a vLLM server's
``--api-key``, credentials in a ``base_url``) lands in the resolved config, Hydra's
``.hydra/`` files and the server's log; a failed request's error can print its
``Authorization`` header into the log. So every file written through
``evalsuite.storage.atomic``, every log record and the files other programs wrote into a run
directory are passed through ``redact``, which replaces:

- the value of every environment variable whose name says it holds a secret (``*KEY*``,
  ``*TOKEN*``, ``*SECRET*``, ``*PASSWORD*``), and of the variables a config names as
  ``api_key_env`` (``register``);
- the password of credentials in a URL (``https://user:PASSWORD@host``);
- a bearer token after ``Bearer``.
"""

from __future__ import annotations

import logging
import os
import re

MASK = "***"
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD", re.IGNORECASE)
# names that match the pattern but hold no secret on ordinary machines
_NOT_SECRET = {"SSH_AUTH_SOCK", "KEYTIMEOUT", "GPG_KEY_ID", "TOKENIZERS_PARALLELISM"}
_MIN_LEN = 8  # shorter values ("1", "true") would mask ordinary text
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][\w+.-]*://[^/\s:@]+:)[^/\s@]+(?=@)")
_BEARER = re.compile(r"(?P<head>\bBearer\s+)[A-Za-z0-9._~+/=-]{8,}")
_registered: set[str] = set()


def register(env_name: str | None) -> None:
    """Treat the value of ``env_name`` as a secret whatever its name (``api_key_env``)."""
    if env_name:
        _registered.add(env_name)


def _secret_values() -> list[str]:
    values = {v for k, v in os.environ.items()
              if (k in _registered or (_SECRET_NAME.search(k) and k not in _NOT_SECRET))
              and len(v) >= _MIN_LEN}
    return sorted(values, key=len, reverse=True)  # a longer secret first, if one holds another


def redact(text: str) -> str:
    """``text`` with every secret replaced by ``***``."""
    for value in _secret_values():
        if value in text:
            text = text.replace(value, MASK)
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    return _BEARER.sub(lambda m: m.group("head") + MASK, text)


class RedactingFilter(logging.Filter):
    """Masks secrets in a record's message before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        if record.exc_info and record.exc_info[1] is not None:
            # a traceback's text is formatted later from the exception itself
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_info, record.exc_text = None, redact(text)
        return True


def install_log_filter() -> None:
    """Put the filter on every handler of the root logger (Hydra's console and job-log
    handlers): records from every library pass through them."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
