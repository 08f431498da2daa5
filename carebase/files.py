"""Files written whole or not at all: media (DICOM originals, previews, uploads, exports) and datasets.

Each file is written to a temporary name in its own folder and renamed over the target (atomic within one file
system); on any error the temporary file goes, so a full disk leaves no half file that a reader could take for a
whole one, and the error says so in words.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterable
from contextlib import suppress
from pathlib import Path

NO_ROOM = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}  # disk full, quota, the process's file size limit


class StorageFull(OSError):
    """No room to write a file; nothing was written. A server fault (507), not bad input."""


def write_atomically(target: Path, data: bytes | Iterable[bytes]) -> int:
    """Write `data` (bytes, or pieces of it) to `target`, all of it or nothing; returns the bytes written."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    written = 0
    try:
        with os.fdopen(handle, "wb") as out:
            for piece in [data] if isinstance(data, bytes | bytearray | memoryview) else data:
                written += out.write(piece)
        os.chmod(temp, 0o644)  # mkstemp's 0600 would hide the file from a web process running as another user
        os.replace(temp, target)
    except BaseException as e:
        with suppress(FileNotFoundError):
            os.unlink(temp)
        raise storage_error(e, target) from e
    return written


def storage_error(error: BaseException, target: Path) -> BaseException:
    """`error` itself, or StorageFull with a message for people when it says the disk had no room."""
    if isinstance(error, OSError) and error.errno in NO_ROOM:
        reason = os.strerror(error.errno or errno.ENOSPC)
        message = f"no room to write {target.name} in {target.parent} ({reason}): nothing was written; free space and retry"
        return StorageFull(error.errno, message)
    return error
