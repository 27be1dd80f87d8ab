"""Reading a secret (a password) from a file named in a configuration.

``read_secret`` returns the file's text without surrounding whitespace; a file that cannot be
read is a ``ConfigError`` naming the key and the file.  A file every user on the machine may
read is accepted, but logged as a warning naming the file and its mode (``chmod o-r`` it).
"""

from __future__ import annotations

import logging
import os
import stat

from bt_mqtt.core.configfile import ConfigError

log = logging.getLogger(__name__)


def read_secret(path: str, key: str, source: str) -> str:
    """The secret in ``path`` (configured as ``key`` in ``source``)."""
    try:
        with open(path, encoding="utf-8") as fh:
            mode = os.fstat(fh.fileno()).st_mode
            text = fh.read()
    except OSError as exc:
        raise ConfigError(f"{source}: {key}: cannot read {path!r}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{source}: {key}: {path!r} is not UTF-8 text") from None
    if mode & stat.S_IROTH:
        log.warning(
            "%s: %s: %s is readable by every user (mode %s); restrict it, e.g. chmod o-r %s",
            source,
            key,
            path,
            stat.filemode(mode),
            path,
            extra={"event": "secret_file_readable", "path": path, "mode": f"{mode & 0o7777:04o}"},
        )
    return text.strip()
