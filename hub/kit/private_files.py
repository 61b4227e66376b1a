"""Files holding secrets (demo keys, generated passwords and client secrets): 0600 in 0700 folders.

Written through a temporary file in the same folder, created 0600 and moved into place, so the secret is
never readable by others, not even for a moment, and a file left by an older run with wider permissions
is replaced by a private one. Folders are tightened each time, for the same reason.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

FILE_MODE, FOLDER_MODE = 0o600, 0o700


def private_folder(path: Path) -> Path:
    """Create ``path`` (and missing parents) and make it 0700."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, FOLDER_MODE)
    return path


def write_private(path: Path, text: str, *, exclusive: bool = False) -> None:
    """Write ``text`` to ``path`` as a 0600 file in a 0700 folder (``exclusive``: refuse if it exists)."""
    private_folder(path.parent)
    if exclusive:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        return
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def keep_private(path: Path) -> None:
    """Tighten an existing secret file and its folder (left by an older run) to 0600 / 0700."""
    os.chmod(path.parent, FOLDER_MODE)
    os.chmod(path, FILE_MODE)
