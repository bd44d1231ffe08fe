"""Where a run folder lives: a local folder (a :class:`pathlib.Path`, as always) or a folder at an fsspec URL
(a :class:`RemotePath`: ``s3://bucket/runs``, ``gs://...``, ``memory://runs``, ``file:///data/runs``).

:func:`location` is the one door: it turns what a user gives (``out_dir``, ``run_dir``, a command's folder) into a
:data:`Location`, and checks a URL before anything is written: an unknown protocol, or a protocol whose filesystem
package is missing (``s3://`` without ``s3fs``), is one :class:`~lit_actmax.errors.ConfigError` sentence, never a
local folder named ``s3:``. A :class:`RemotePath` has the part of pathlib's API that run folders use (joining, names,
``exists``/``is_file``/``is_dir``, ``glob``, reading and writing, ``mkdir``, ``unlink``), so the writers and readers of
``run/``, ``image/io.py`` and ``html/`` have one code path for both; local paths keep pathlib (and its atomic renames).

Writes: on ``file://`` a file is written beside its target and renamed over it, as for local paths; elsewhere the
filesystem stores each file whole (object stores, ``memory://``), and a continued folder's checks find anything a
kill cut short. A folder of an object store exists once it holds a file (``mkdir`` makes none there).

Options of the filesystem (endpoint, credentials, region) come from fsspec's configuration, as for Lightning's own
checkpoints: environment variables ``FSSPEC_<PROTOCOL>_<OPTION>`` (``FSSPEC_S3_ENDPOINT_URL=http://...``), fsspec's
config files, or the filesystem's own (``AWS_PROFILE``); in Python, ``location(url, storage_options={...})`` gives a
:class:`RemotePath` that every function taking a run folder accepts. Options never enter a run's settings or files.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import re
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any, Iterator, NamedTuple, Union

from ..errors import ConfigError

__all__ = ["AnyPath", "Location", "RemotePath", "is_url", "location", "relative_path", "remove_tree"]

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*(://|::)")


def is_url(value: Any) -> bool:
    """Whether ``value`` names a folder through a protocol (``s3://bucket/runs``, ``simplecache::s3://...``)."""
    return isinstance(value, RemotePath) or (isinstance(value, str) and _URL.match(value) is not None)


@dataclass(eq=False)
class _Store:
    """One filesystem as a location's paths share it: the fsspec filesystem, the URL's protocol as the user wrote
    it, and the folders already made through it (each made once)."""

    fs: Any
    protocol: str
    made: set[str] = field(default_factory=set)

    def make_folder(self, path: str) -> None:
        if path not in self.made:
            self.fs.makedirs(path, exist_ok=True)
            self.made.add(path)


class RemoteStat(NamedTuple):
    """What :meth:`RemotePath.stat` tells: the size and the modification time (0 where the filesystem keeps none)."""

    st_size: int
    st_mtime_ns: int


class RemotePath:
    """A file or folder at an fsspec URL, with the part of :class:`pathlib.Path`'s API run folders use (made by
    :func:`location`). Deliberately not ``os.PathLike``: a ``Path(remote)`` that would write a local folder fails."""

    def __init__(self, store: _Store, path: str) -> None:
        self._store, self.path = store, path.rstrip("/") or path

    # -- names ----------------------------------------------------------------------------------------------
    @property
    def fs(self) -> Any:
        """The fsspec filesystem."""
        return self._store.fs

    def _child(self, path: str) -> RemotePath:
        return RemotePath(self._store, path)

    def __truediv__(self, other: str | os.PathLike) -> RemotePath:
        return self._child(posixpath.join(self.path, os.fspath(other)))

    def joinpath(self, *others: str | os.PathLike) -> RemotePath:
        return self._child(posixpath.join(self.path, *map(os.fspath, others)))

    @property
    def _pure(self) -> PurePosixPath:
        return PurePosixPath(self.path)

    @property
    def name(self) -> str:
        return self._pure.name

    @property
    def stem(self) -> str:
        return self._pure.stem

    @property
    def suffix(self) -> str:
        return self._pure.suffix

    @property
    def parts(self) -> tuple[str, ...]:
        return self._pure.parts

    @property
    def parent(self) -> RemotePath:
        return self._child(str(self._pure.parent))

    def with_suffix(self, suffix: str) -> RemotePath:
        return self._child(str(self._pure.with_suffix(suffix)))

    def with_name(self, name: str) -> RemotePath:
        return self._child(str(self._pure.with_name(name)))

    def relative_to(self, other: RemotePath) -> PurePosixPath:
        """This path below ``other`` (``ValueError`` when it is not, as pathlib's)."""
        if not isinstance(other, RemotePath) or other._store.protocol != self._store.protocol:
            raise ValueError(f"{self} is not in {other}.")
        return self._pure.relative_to(other.path)

    def absolute(self) -> RemotePath:
        return self

    def resolve(self) -> RemotePath:
        return self

    def as_uri(self) -> str:
        return str(self)

    def __str__(self) -> str:
        return self.fs.unstrip_protocol(self.path) if "::" not in self._store.protocol else \
            f"{self._store.protocol}://{self.path}"

    def __repr__(self) -> str:
        return f"RemotePath({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RemotePath) and (other._store.protocol, other.path) == (self._store.protocol, self.path)

    def __hash__(self) -> int:
        return hash((self._store.protocol, self.path))

    def __lt__(self, other: RemotePath) -> bool:
        return self._pure < other._pure

    # -- what is there --------------------------------------------------------------------------------------
    def exists(self) -> bool:
        return bool(self.fs.exists(self.path))

    def is_file(self) -> bool:
        return bool(self.fs.isfile(self.path))

    def is_dir(self) -> bool:
        return bool(self.fs.isdir(self.path))

    def stat(self) -> RemoteStat:
        size = int(self.fs.size(self.path))
        try:
            modified = int(self.fs.modified(self.path).timestamp() * 1e9)
        except (NotImplementedError, AttributeError, KeyError):
            modified = 0
        return RemoteStat(size, modified)

    def _forget_listings(self) -> None:
        """Drop the filesystem's cached listings at and below this path: other processes (ranks) may have written
        since it listed them."""
        self.fs.invalidate_cache(self.path)
        cache = getattr(self.fs, "dircache", None)
        if cache is not None:
            for key in [k for k in list(cache) if str(k).startswith(self.path + "/")]:
                cache.pop(key, None)

    def iterdir(self) -> Iterator[RemotePath]:
        """The entries of this folder (none where the folder holds no file yet)."""
        self._forget_listings()
        try:
            names = self.fs.ls(self.path, detail=False)
        except FileNotFoundError:
            names = []
        return iter(sorted(self._child(n) for n in names if n.rstrip("/") != self.path))

    def glob(self, pattern: str) -> Iterator[RemotePath]:
        """The paths matching ``pattern`` below this folder, sorted."""
        self._forget_listings()
        return iter(sorted(self._child(p) for p in self.fs.glob(posixpath.join(self.path, pattern))))

    def rglob(self, pattern: str) -> Iterator[RemotePath]:
        """The files anywhere below this folder whose name matches ``pattern``."""
        self._forget_listings()
        files = self.fs.find(self.path) if self.exists() else []
        return iter(sorted(self._child(p) for p in files if fnmatch.fnmatchcase(posixpath.basename(p), pattern)))

    # -- reading and writing --------------------------------------------------------------------------------
    def open(self, mode: str = "rb") -> IO[Any]:
        return self.fs.open(self.path, mode)

    def read_bytes(self) -> bytes:
        return bytes(self.fs.cat_file(self.path))

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    def write_bytes(self, data: bytes) -> None:
        """Write the file whole: on ``file://`` through a temporary file renamed over it (readers never see half a
        file), elsewhere as one object."""
        from fsspec.implementations.local import LocalFileSystem

        self._store.make_folder(self.parent.path)
        if not isinstance(self.fs, LocalFileSystem):
            self.fs.pipe_file(self.path, data)
            return
        temporary = posixpath.join(self.parent.path, f".{self.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            self.fs.pipe_file(temporary, data)
            self.fs.mv(temporary, self.path)
        except BaseException:
            if self.fs.exists(temporary):
                self.fs.rm_file(temporary)
            raise

    def write_text(self, text: str, encoding: str = "utf-8") -> None:
        self.write_bytes(text.encode(encoding))

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        """Make this folder (and its parents: an object store has no folders, so there it only checks ``exist_ok``)."""
        if not exist_ok and self.exists():
            raise FileExistsError(str(self))
        self._store.make_folder(self.path)

    def rmdir(self) -> None:
        """Remove this empty folder (never a bucket: a path without a ``/`` inside is left alone)."""
        if "/" in self.path.strip("/"):
            self.fs.rmdir(self.path)

    def unlink(self, missing_ok: bool = False) -> None:
        try:
            self.fs.rm_file(self.path)
        except FileNotFoundError:
            if not missing_ok:
                raise


#: A run folder or a file in one: local (pathlib) or at an fsspec URL.
Location = Union[Path, RemotePath]
#: A path as callers give it: a string (a local path or a URL), an ``os.PathLike`` or a :class:`RemotePath`.
AnyPath = Union[str, "os.PathLike[str]", RemotePath]


def location(value: AnyPath, what: str = "folder",
             storage_options: dict[str, Any] | None = None) -> Location:
    """``value`` as a :data:`Location`: a :class:`RemotePath` for an fsspec URL (checked, see the module docstring),
    else a :class:`pathlib.Path`. ``what`` names the value in the sentence of a :class:`ConfigError`
    (``"out_dir"``); ``storage_options`` are the filesystem's options (default: fsspec's configuration)."""
    if isinstance(value, RemotePath):
        return value
    if not is_url(value):
        return Path(value)
    import fsspec
    from fsspec.core import url_to_fs
    from fsspec.registry import known_implementations

    url = str(value)
    protocols = [part.split("://")[0] for part in url.split("::")]
    for protocol in protocols:
        try:
            fsspec.get_filesystem_class(protocol)
        except ValueError:
            raise ConfigError(f"{what} {url} names the unknown protocol {protocol}://; give a local folder or an fsspec "
                              "URL (s3://, gs://, az://, file://, memory://, ...).") from None
        except ImportError:
            package = str(known_implementations.get(protocol, {}).get("class", protocol)).split(".")[0]
            raise ConfigError(f"{what} {url} needs the {package} package: pip install {package}.") from None
    try:
        fs, path = url_to_fs(url, **(storage_options or {}))
    except (TypeError, ValueError, ImportError) as error:
        raise ConfigError(f"{what} {url}: the {protocols[-1]} filesystem refuses its options ({type(error).__name__}: "
                          f"{error}); fix the storage options (FSSPEC_{protocols[-1].upper()}_* variables).") from None
    return RemotePath(_Store(fs, "::".join(protocols)), path)


def relative_path(target: Location, start: Location | str) -> str:
    """The relative path from the folder ``start`` to ``target`` (both on one filesystem), as a page links it."""
    if isinstance(target, RemotePath):
        begin = start.path if isinstance(start, RemotePath) else str(start)
        return posixpath.relpath(target.path, begin)
    return os.path.relpath(target, start)  # type: ignore[arg-type]


def remove_tree(folder: Location) -> None:
    """Remove ``folder`` and everything in it (nothing when it is not there)."""
    if isinstance(folder, RemotePath):
        if folder.exists():
            folder.fs.rm(folder.path, recursive=True)
        store = folder._store  # folders made through it are gone: make them again on the next write
        store.made = {path for path in store.made if path != folder.path and not path.startswith(folder.path + "/")}
        return
    shutil.rmtree(folder, ignore_errors=True)
