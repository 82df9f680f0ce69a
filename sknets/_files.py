"""Atomic file writes and folder locks: the one place sknets replaces a file.

A write goes to a temporary file next to the target, reaches the disk, takes
the target's permissions, and replaces the target in one step; on any error
or interrupt the temporary file is removed and the target is untouched. A
temporary left by a killed process carries that process's id in its name and
is removed by the next write to the same target.

``exclusive_lock`` lets one process at a time work in a folder; the lock is
the kernel's (``flock``), so a killed process never leaves it held.
"""

import os
import re
import secrets
import stat
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_file", "exclusive_lock", "write_atomically"]


def _target(path):
    # A symlink is written through: its target file is replaced, the link
    # stays.
    path = Path(path)
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def _existing_mode(target):
    # The permissions of the file being replaced, or None for a new file.
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        return None


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_temporaries(target):
    pattern = re.compile(rf"^\.{re.escape(target.name)}\.(\d+)\.[0-9a-f]+\.tmp$")
    for entry in target.parent.iterdir():
        match = pattern.match(entry.name)
        if match and not _alive(int(match.group(1))):
            entry.unlink(missing_ok=True)


@contextmanager
def atomic_file(path, mode="wb"):
    """Open a temporary file that replaces ``path`` when the block succeeds.

    Parameters
    ----------
    path : str or path-like
        The file to write. A symlink is followed: its target is replaced.
        The new file keeps the permissions of the file it replaces (a new
        file gets the umask's default).
    mode : {'wb', 'w'}, default='wb'
        Binary or text.

    Yields
    ------
    file : file object
        Write to it inside the block; an exception inside the block leaves
        ``path`` as it was.

    Examples
    --------
    >>> import os, tempfile
    >>> from sknets._files import atomic_file
    >>> path = os.path.join(tempfile.mkdtemp(), "out.txt")
    >>> with atomic_file(path, "w") as f:
    ...     _ = f.write("done")
    >>> open(path).read()
    'done'
    """
    target = _target(path)
    _remove_stale_temporaries(target)
    temporary = target.parent / (
        f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    # A new file is created as open() creates one (0o666 less the umask, set
    # by the kernel: reading the umask would briefly change it for every
    # thread); a replaced file's permissions are copied onto it.
    existing = _existing_mode(target)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                 0o666 if existing is None else 0o600)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        if existing is not None:
            os.chmod(temporary, existing)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def write_atomically(path, data):
    """Replace ``path`` with ``data`` in one step (see ``atomic_file``).

    Parameters
    ----------
    path : str or path-like
        The file to write.
    data : bytes or str
        Its new content.

    Examples
    --------
    >>> import os, tempfile
    >>> from sknets._files import write_atomically
    >>> path = os.path.join(tempfile.mkdtemp(), "out.bin")
    >>> write_atomically(path, b"123")
    >>> open(path, "rb").read()
    b'123'
    """
    with atomic_file(path, "w" if isinstance(data, str) else "wb") as f:
        f.write(data)


@contextmanager
def exclusive_lock(path, on_wait=None):
    """Hold an exclusive lock on the file ``path`` (created if missing).

    Parameters
    ----------
    path : str or path-like
        The lock file, e.g. ``<folder>/.lock``.
    on_wait : callable, default=None
        Called once, without arguments, when another process holds the lock;
        this call then waits for it.

    Yields
    ------
    None
        The lock is held inside the block and released after it, or when the
        process ends.

    Examples
    --------
    >>> import os, tempfile
    >>> from sknets._files import exclusive_lock
    >>> with exclusive_lock(os.path.join(tempfile.mkdtemp(), ".lock")):
    ...     pass
    """
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; runs are not shared there
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock
