"""Outputs written all or nothing: staged under temporary names beside their targets, then moved in together.

A run's outputs live in several folders (``data/processed/<name>/`` and ``maps/<name>*.html``), perhaps on
different file systems, so no single rename can replace them all. The protocol:

1. **Stage.** Each output is written under a temporary name in its target's own folder (so moving it in
   is a rename on one file system): ``.<stem>.siting-tmp-<pid>-<hex><suffix>``. Folders and files get
   the permissions the process's umask gives, like any other file the user writes.
2. **Commit.** A journal listing every move (``.<name>.siting-commit.json``, beside the first target) is
   written atomically: from that instant the new set is the committed one. Then each target is replaced:
   an existing file is kept as a hard link ``.<stem>.siting-old-<pid>-<hex><suffix>`` and replaced by
   ``os.replace`` (the file never disappears), an existing folder is renamed aside and the new one renamed
   in. Then the journal and the old copies are removed. An error while moving puts the old outputs back.
3. **Recover** (:func:`recover`, before a run writes and before a result folder is read): a journal left
   by a killed commit is carried out to the end; temporaries of a run that is no longer alive are removed;
   those of a live run make the new run refuse, naming them.

So a ``kill -9`` at any moment leaves the old outputs (killed before the journal), or the new ones once
any siting command has looked at the folder (killed after it).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from siting._log import get_logger
from siting.errors import OutputExistsError, OutputWriteError, SitingError

log = get_logger(__name__)

_JOURNAL = ".siting-commit.json"
# temporaries of siting versions before this protocol (tempfile.mkdtemp / mkstemp names, no pid)
_LEGACY = (r"^\.{name}-[a-z0-9_]{{8}}$", r"^\.{name}\.[a-z0-9_]{{8}}\.tmp$")


def new_token() -> str:
    """A token naming one writer's temporaries: ``<pid>-<8 hex digits>``."""
    return f"{os.getpid()}-{secrets.token_hex(4)}"


def temp_path(target: Path, token: str, kind: str = "tmp") -> Path:
    """The temporary (``kind="tmp"``) or old-copy (``"old"``) name of ``target``, in its folder."""
    return target.parent / f".{target.stem}.siting-{kind}-{token}{target.suffix}"


def journal_path(target: Path) -> Path:
    """Where the commit journal of a set whose first target is ``target`` lives."""
    return target.parent / f".{target.name}{_JOURNAL}"


def write_atomic(path: Path, write: Callable[[Path], object]) -> Path:
    """Write ``path`` by calling ``write(temporary)``, then a rename; umask permissions.

    ``write`` writes a whole file at the temporary path it is given (e.g. ``frame.to_parquet``); the target
    never holds a partial file and gets ``0666`` less the umask, like any other file the user writes.

    Raises
    ------
    OutputWriteError
        When the file cannot be written (nothing is left behind; an earlier file stays as it was).
    """
    path = Path(path)
    tmp = temp_path(path, new_token())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        _follow_umask([tmp])
        tmp.replace(path)
    except BaseException as exc:
        with contextlib.suppress(OSError):  # e.g. the folder is a file: there is nothing to remove
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise write_error(exc, path) from exc
        raise
    return path


def write_text_atomic(path: Path, text: str, *, newline: str | None = None) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file and a rename (:func:`write_atomic`).

    ``newline`` is passed to :func:`open` (``""`` writes line ends as they are in ``text``).
    """

    def write(tmp: Path) -> None:
        with tmp.open("x", encoding="utf-8", newline=newline) as fh:
            fh.write(text)

    return write_atomic(path, write)


def write_error(exc: OSError, where: Path) -> OutputWriteError:
    """The one-line error for an output that could not be written."""
    reason = exc.strerror or str(exc)
    name = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
    hint = " Free some disk space" if exc.errno == errno.ENOSPC else " Check that the folder is writable"
    return OutputWriteError(
        f"cannot write the outputs to {where}: {reason}{name}. The earlier outputs are unchanged and no "
        f"temporary file is left.{hint}, or choose another folder (--out / --map, outputs.dir / outputs.map)."
    )


class StagedOutputs:
    """One writer's outputs: register each target, write it at the temporary path given, then commit."""

    def __init__(self) -> None:
        self.token = new_token()
        self.moves: list[tuple[Path, Path]] = []

    def folder(self, target: Path) -> Path:
        """Create and return the temporary folder that becomes ``target`` at the commit."""
        temp = temp_path(target, self.token)
        target.parent.mkdir(parents=True, exist_ok=True)
        temp.mkdir()
        self.moves.append((temp, target))
        return temp

    def file(self, target: Path, temp: Path | None = None) -> Path:
        """Register a file to write at the returned temporary path (``temp``, or one made up)."""
        temp = temp_path(target, self.token) if temp is None else temp
        target.parent.mkdir(parents=True, exist_ok=True)
        self.moves.append((temp, target))
        return temp

    def commit(self) -> None:
        """Move every staged output into place, all of them or (on an error) none."""
        if not self.moves:
            return
        unwritten = [str(temp) for temp, _ in self.moves if not temp.exists()]
        if unwritten:
            raise OutputWriteError(f"outputs were registered but not written: {', '.join(unwritten)}.")
        _follow_umask([temp for temp, _ in self.moves])
        journal = journal_path(self.moves[0][1])
        record = {"token": self.token, "moves": [[str(t), str(target)] for t, target in self.moves]}
        write_text_atomic(journal, json.dumps(record, indent=1, ensure_ascii=False) + "\n")
        for i, (temp, target) in enumerate(self.moves):
            try:
                _move_in(temp, target, self.token)
            except BaseException:
                _roll_back(self.moves[: i + 1], self.token)
                journal.unlink(missing_ok=True)
                raise
        journal.unlink()
        _remove_old(self.moves, self.token)

    def discard(self) -> None:
        """Remove every temporary of this writer (after an error)."""
        for temp, target in self.moves:
            _remove(temp)
            _remove(temp_path(target, self.token, "old"))


@contextlib.contextmanager
def all_or_nothing() -> Iterator[StagedOutputs]:
    """Stage outputs in the ``with`` block; commit them at its end, or remove them all on any error.

    Raises
    ------
    OutputWriteError
        For an operating-system error (full disk, read-only folder...) while staging or moving.
    """
    staged = StagedOutputs()
    try:
        yield staged
        staged.commit()
    except BaseException as exc:
        staged.discard()
        if isinstance(exc, OSError) and not isinstance(exc, SitingError):
            where = staged.moves[0][1] if staged.moves else Path()
            raise write_error(exc, where) from exc
        raise


def _follow_umask(paths: Sequence[Path]) -> None:
    """Give staged files ``0666`` and folders ``0777`` less the umask (SQLite, for one, makes ``0644``)."""
    mask = os.umask(0)
    os.umask(mask)
    for top in paths:
        for path in [top, *(top.rglob("*") if top.is_dir() else [])]:
            path.chmod((0o777 if path.is_dir() else 0o666) & ~mask)


def _move_in(temp: Path, target: Path, token: str) -> None:
    """Replace ``target`` by ``temp``, keeping the old one under its old-copy name."""
    old = temp_path(target, token, "old")
    if target.is_dir() and not target.is_symlink():
        if not old.exists():
            target.rename(old)
        temp.rename(target)
        return
    if target.is_symlink() and not old.exists():
        target.rename(old)  # a link (to a file or folder) is put aside as it is
    elif target.exists() and not old.exists():
        try:
            os.link(target, old)  # the target never disappears
        except OSError:
            shutil.copy2(target, old)
    temp.replace(target)


def _roll_back(moves: Sequence[tuple[Path, Path]], token: str) -> None:
    """Put the old outputs back for the moves done (the last one perhaps half done), newest first."""
    for temp, target in reversed(moves):
        old = temp_path(target, token, "old")
        try:
            if old.exists():
                if target.exists() and not target.is_dir() and old.samefile(target):
                    old.unlink()  # not replaced yet: the target still is the old file
                    continue
                if target.exists() and not temp.exists():
                    target.rename(temp)  # the new output, to be discarded
                old.replace(target)
            elif target.exists() and not temp.exists():
                target.rename(temp)  # there was no old output; the new one goes
        except OSError as exc:  # leave what cannot be undone; say so
            log.error("could not restore %s from %s (%s); restore it by hand", target, old, exc)


def _remove_old(moves: Sequence[tuple[Path, Path]], token: str) -> None:
    for _, target in moves:
        _remove(temp_path(target, token, "old"))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    except OSError:
        return False
    return True


def recover(targets: Sequence[Path]) -> None:
    """Finish a commit a killed run left half done, and remove temporaries of runs no longer alive.

    Parameters
    ----------
    targets
        The outputs about to be written or read (a result folder, map files).

    Raises
    ------
    OutputExistsError
        When another live siting run is writing the same outputs (its temporaries are named).
    """
    for target in targets:
        _finish_journal(Path(target))
    stale, busy = [], []
    for target in targets:
        for path, pid in _temporaries(Path(target)):
            (busy if pid is not None and _alive(pid) else stale).append((path, pid))
    if busy:
        path, pid = busy[0]
        raise OutputExistsError(
            f"{path} is being written by another siting run (process {pid}); wait for it to finish, or "
            "remove that temporary if no siting run is writing."
        )
    for path, _ in stale:
        _remove(path)
    if stale:
        shown = ", ".join(str(p) for p, _ in stale[:3]) + (" ..." if len(stale) > 3 else "")
        log.warning("removed %d temporary output(s) left by an interrupted run: %s", len(stale), shown)


def _temporaries(target: Path) -> list[tuple[Path, int | None]]:
    """Temporaries beside ``target`` that belong to it: ``(path, pid)`` (pid None for old versions').

    Its own (``temp_path``, and the hearing and review maps staged beside a map's) and its journal's.
    Stem and suffix both must match: ``s-0.5`` and ``s-0.25`` share the stem ``s-0`` (a sweep writes
    both at once), and one's temporaries must not look like the other's.
    """
    folder = target.parent
    if not folder.is_dir():
        return []
    legacy = [re.compile(p.format(name=re.escape(target.name))) for p in _LEGACY]
    own = [(_temporary_name(t), t.suffix) for t in (target, journal_path(target))]
    found = []
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(_JOURNAL):
            continue
        tags = [(m, suffix) for pattern, suffix in own if (m := pattern.match(name)) is not None]
        mine = [int(m.group(2)) for m, suffix in tags if name[m.end() :] == suffix]
        if mine:
            found.append((entry, mine[0]))
        elif any(p.match(name) for p in legacy):
            found.append((entry, None))
    return found


def _temporary_name(target: Path) -> re.Pattern[str]:
    """The start of ``target``'s temporaries' names (:func:`temp_path`), up to ``-<kind>`` and the suffix."""
    return re.compile(rf"^\.{re.escape(target.stem)}\.siting-(tmp|old)-(\d+)-[0-9a-f]+(-[^.]+)?")


def _finish_journal(target: Path) -> None:
    """Carry out the moves of a journal beside ``target`` (left by a run killed while committing)."""
    journal = journal_path(target)
    if not journal.exists():
        return
    try:
        record = json.loads(journal.read_text(encoding="utf-8"))
        token = str(record["token"])
        moves = [(Path(t), Path(g)) for t, g in record["moves"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring unreadable commit journal %s (%s)", journal, exc)
        journal.unlink(missing_ok=True)
        return
    pid = int(token.split("-")[0])
    if pid != os.getpid() and _alive(pid):
        raise OutputExistsError(
            f"{target} is being saved by another siting run (process {pid}) right now; wait a moment and "
            f"run again (if no siting run is running, remove {journal})."
        )
    for temp, dest in moves:
        if temp.exists():
            _move_in(temp, dest, token)
    journal.unlink(missing_ok=True)
    _remove_old(moves, token)
    log.warning("finished saving %s, which a run killed while saving had left half done", target)
