"""Download, verify and unpack the released datasets: TACOS, Clotho, AudioSet Strong
(docs/protocol.md, section 1).

Downloads resume where they stopped (HTTP Range into ``<dest>.part``) and are checked against the
published size and md5 (or, where none is published, the expected TSV columns) before an atomic
rename puts them in place; bad bytes are moved to ``<dest>.corrupt`` so a rerun starts clean.
Archives are unpacked only after every member was checked to stay inside the target folder, into
a staging folder that is renamed into place with a completion marker inside. Re-running after an
interruption continues; verified files and finished extractions are skipped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import stat
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PureWindowsPath
from typing import Any

import py7zr
import requests
import urllib3
from tqdm import tqdm

from tacos.data.formats import AUDIOSET_MID_COLUMNS, AUDIOSET_STRONG_COLUMNS
from tacos.data.report import DataFormatError

log = logging.getLogger(__name__)

CHUNK_SIZE = 1 << 20
EXTRACTED_MARKER = ".tacos_extracted.json"
REPORT_NAME = "fetch_report.json"
TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})

# A check returns None when the file is fine, else a sentence saying what is wrong.
FileCheck = Callable[[Path], str | None]


@dataclass(frozen=True)
class RemoteFile:
    """One published file: where it lives, how to verify it, and whether to unpack it.

    ``extract_to`` names the folder under the dataset directory that receives an archive's
    contents; None keeps the archive's own top-level folder. ``tsv_columns`` replaces the md5
    check where the publisher gives none: the file must be UTF-8 TSV with exactly these columns
    (as its header line when ``tsv_header``).
    """

    name: str
    url: str
    md5: str | None
    size: int | None
    extract: bool = False
    extract_to: str | None = None
    tsv_columns: tuple[str, ...] | None = None
    tsv_header: bool = True


def _zenodo(record: int, name: str, md5: str, size: int | None = None, **kw: Any) -> RemoteFile:
    url = f"https://zenodo.org/api/records/{record}/files/{name}/content"
    return RemoteFile(name, url, md5, size, **kw)


TACOS_RECORD = 15379789
CLOTHO_RECORD = 4783391
AUDIOSET_STRONG_URL = "http://storage.googleapis.com/us_audioset/youtube_corpus/strong"

DATASETS: dict[str, tuple[RemoteFile, ...]] = {
    "tacos": (
        _zenodo(
            TACOS_RECORD, "annotations_strong.csv", "882d5a5a28f59441f4c7b4ed17ebab05", 4109451
        ),
        _zenodo(TACOS_RECORD, "annotations_weak.csv", "1445727f4d470273a7395ddcb9e34b93", 1318097),
        _zenodo(TACOS_RECORD, "metadata.csv", "17e8df44f2d217dc7cf4b75767ee5ab3", 8134917),
        _zenodo(TACOS_RECORD, "development_split.csv", "bee28197d13e859dbc36021c2a928f07", 112843),
        _zenodo(TACOS_RECORD, "test_split.csv", "16f5b5eab84753a571e9944739508854", 21794),
        _zenodo(
            TACOS_RECORD,
            "audio.zip",
            "a1b11ed7a88d6b95109decb577c128fd",
            1629958981,
            extract=True,
            extract_to="audio",
        ),
    ),
    "clotho": (
        _zenodo(
            CLOTHO_RECORD,
            "clotho_audio_development.7z",
            "c8b05bc7acdb13895bb3c6a29608667e",
            extract=True,
        ),
        _zenodo(
            CLOTHO_RECORD,
            "clotho_audio_validation.7z",
            "7dba730be08bada48bd15dc4e668df59",
            extract=True,
        ),
        _zenodo(
            CLOTHO_RECORD,
            "clotho_audio_evaluation.7z",
            "4569624ccadf96223f19cb59fe4f849f",
            extract=True,
        ),
        _zenodo(
            CLOTHO_RECORD, "clotho_captions_development.csv", "d4090b39ce9f2491908eebf4d5b09bae"
        ),
        _zenodo(
            CLOTHO_RECORD, "clotho_captions_validation.csv", "5879e023032b22a2c930aaa0528bead4"
        ),
        _zenodo(
            CLOTHO_RECORD, "clotho_captions_evaluation.csv", "1b16b9e57cf7bdb7f13a13802aeb57e2"
        ),
    ),
    "audioset_strong": tuple(
        RemoteFile(
            name,
            f"{AUDIOSET_STRONG_URL}/{name}",
            None,
            None,
            tsv_columns=columns,
            tsv_header=header,
        )
        for name, columns, header in (
            ("audioset_eval_strong.tsv", AUDIOSET_STRONG_COLUMNS, True),
            ("audioset_train_strong.tsv", AUDIOSET_STRONG_COLUMNS, True),
            ("mid_to_display_name.tsv", AUDIOSET_MID_COLUMNS, False),
        )
    ),
}


class DownloadError(RuntimeError):
    """A file could not be fetched; the message names the URL and what to do."""


class CorruptDownloadError(DataFormatError):
    """Downloaded bytes failed verification; they were moved aside to ``<dest>.corrupt``."""


class UnsafeArchiveError(DataFormatError):
    """An archive member would be written outside the target folder (or is a link)."""

    def __init__(self, archive: str | os.PathLike, member: str, reason: str):
        super().__init__(
            archive,
            f"member {member!r} {reason}; nothing was extracted",
            "this is not the published archive: delete it and download it again from the "
            "official source",
        )
        self.member = member


class _TransientError(requests.RequestException):
    """A failure worth retrying (server busy, range refused) that requests does not raise."""


# Bodies are read from urllib3 directly (see _transfer), so its errors are caught as well.
RETRYABLE = (
    urllib3.exceptions.ProtocolError,
    urllib3.exceptions.TimeoutError,
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    _TransientError,
)


def dataset_files(name: str) -> tuple[RemoteFile, ...]:
    """The registry entry of dataset ``name``, with the known names in the error."""
    try:
        return DATASETS[name]
    except KeyError:
        known = ", ".join(sorted(DATASETS))
        raise ValueError(f"unknown dataset {name!r}; known: {known}") from None


def remote_url(remote: RemoteFile, base_url: str | None = None) -> str:
    """Where to fetch ``remote``: its official URL, or ``<base_url>/<name>`` on a mirror."""
    return remote.url if base_url is None else f"{base_url.rstrip('/')}/{remote.name}"


def file_md5(path: str | os.PathLike) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def tsv_problem(path: Path, columns: tuple[str, ...], header: bool = True) -> str | None:
    """Check a TSV has ``columns`` (as header line when ``header``) on every line, and data rows."""
    rows = 0
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            for number, line in enumerate(fh, start=1):
                fields = line.rstrip("\r\n").split("\t")
                if header and number == 1:
                    if tuple(fields) != columns:
                        return f"header is {fields}, expected {list(columns)}"
                    continue
                if len(fields) != len(columns):
                    return (
                        f"line {number} has {len(fields)} tab-separated fields, expected "
                        f"{len(columns)} ({', '.join(columns)})"
                    )
                rows += 1
    except UnicodeDecodeError as err:
        return f"not UTF-8 text ({err})"
    return None if rows else "no data rows"


def _file_check(remote: RemoteFile) -> FileCheck | None:
    if remote.tsv_columns is None:
        return None
    return partial(tsv_problem, columns=remote.tsv_columns, header=remote.tsv_header)


def _verify(path: Path, md5: str | None, size: int | None, check: FileCheck | None) -> str | None:
    """What is wrong with ``path`` against the expected size, md5 and format; None if nothing."""
    got_size = path.stat().st_size
    if size is not None and got_size != size:
        return f"size mismatch: expected {size} bytes, got {got_size}"
    if md5 is not None:
        got_md5 = file_md5(path)
        if got_md5 != md5.lower():
            return f"md5 mismatch: expected {md5.lower()}, got {got_md5}"
    return check(path) if check is not None else None


def _move_aside(path: Path, dest: Path) -> Path:
    corrupt = dest.with_name(dest.name + ".corrupt")
    os.replace(path, corrupt)
    return corrupt


def download(
    url: str,
    dest: str | os.PathLike,
    md5: str | None = None,
    size: int | None = None,
    *,
    check: FileCheck | None = None,
    session: requests.Session | None = None,
    retries: int = 5,
    backoff_s: float = 2.0,
    timeout_s: float = 60.0,
    progress: bool | None = None,
) -> Path:
    """Fetch ``url`` to ``dest``, resuming a previous ``.part`` and verifying before the rename.

    A file already at ``dest`` that passes verification is kept without any request. ``retries``
    counts consecutive attempts that brought no new bytes; each attempt resumes with a Range
    request. Without a published ``size``, the size the server announced is verified instead.
    ``progress=None`` shows a progress bar only on a terminal.
    """
    dest = Path(dest)
    if dest.exists():
        problem = _verify(dest, md5, size, check)
        if problem is None:
            log.info("%s: already present and verified", dest)
            return dest
        corrupt = _move_aside(dest, dest)
        log.warning("%s: %s; moved it to %s and downloading again", dest, problem, corrupt)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    log.info("%s: downloading %s", dest.name, url)
    announced = _fill_part(
        url, part, size, session or requests.Session(), retries, backoff_s, timeout_s, progress
    )
    problem = _verify(part, md5, size if size is not None else announced, check)
    if problem is not None:
        corrupt = _move_aside(part, dest)
        raise CorruptDownloadError(
            dest,
            f"{problem} (downloaded from {url}; the bytes were moved to {corrupt})",
            "run the download again to fetch a fresh copy; if the same mismatch comes back, the "
            "server or mirror serves a different file than the published one: check the URL "
            "(or --base-url)",
        )
    os.replace(part, dest)
    log.info("%s: verified (%d bytes)", dest.name, dest.stat().st_size)
    return dest


def _fill_part(
    url: str,
    part: Path,
    size: int | None,
    session: requests.Session,
    retries: int,
    backoff_s: float,
    timeout_s: float,
    progress: bool | None,
) -> int | None:
    """Bring ``part`` to the full file, resuming after dropped connections.

    Returns the size the server announced (None if it announced none).
    """
    failures = 0
    while True:
        have = part.stat().st_size if part.exists() else 0
        if size is not None and have >= size:
            return size
        try:
            announced = _transfer(session, url, part, have, timeout_s, progress)
        except RETRYABLE as err:
            problem = f"{type(err).__name__}: {err}"
        else:
            got = part.stat().st_size
            if announced is None or got >= announced:
                return announced
            problem = f"the server closed the transfer after {got} of {announced} bytes"
        now = part.stat().st_size if part.exists() else 0
        failures = 0 if now > have else failures + 1
        if failures > retries:
            raise DownloadError(
                f"{url}: giving up after {retries} retries without progress ({problem}). "
                f"The partial download is kept in {part}; run again to resume."
            )
        delay = backoff_s * 2 ** max(failures - 1, 0)
        log.warning("%s: %s; resuming at byte %d in %.1f s", part.name, problem, now, delay)
        time.sleep(delay)


def _transfer(
    session: requests.Session,
    url: str,
    part: Path,
    have: int,
    timeout_s: float,
    progress: bool | None,
) -> int | None:
    """One request: append to ``part`` from byte ``have`` (206) or rewrite it (200).

    Returns the full file size the server announced, or None.
    """
    headers = {"Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    with session.get(url, headers=headers, stream=True, timeout=timeout_s) as resp:
        if resp.status_code == 416 and have:
            total = _content_range(resp)[2]
            if total == have:
                return total
            part.unlink()
            raise _TransientError(f"the server refused bytes={have}- (file size {total})")
        if resp.status_code in TRANSIENT_STATUS:
            raise _TransientError(f"HTTP {resp.status_code} {resp.reason}")
        if resp.status_code >= 400:
            raise DownloadError(
                f"{url}: HTTP {resp.status_code} {resp.reason}; check the URL (or --base-url)"
            )
        if resp.status_code == 206:
            start, _, total = _content_range(resp)
            if start != have:
                part.unlink()
                raise _TransientError(f"asked for byte {have} onwards, got byte {start} onwards")
            mode = "ab"
        else:
            if have:
                log.info("%s: the server ignored the range request; starting over", part.name)
            length = resp.headers.get("Content-Length")
            start, total, mode = 0, int(length) if length is not None else None, "wb"
        with (
            part.open(mode) as fh,
            tqdm(
                total=total,
                initial=start,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=part.name.removesuffix(".part"),
                leave=False,
                disable=None if progress is None else not progress,
            ) as bar,
        ):
            # read1 hands over every byte that arrived before a dropped connection (iter_content
            # would lose the last chunk), and undecoded bytes keep Range offsets exact.
            while chunk := resp.raw.read1(CHUNK_SIZE, decode_content=False):
                fh.write(chunk)
                bar.update(len(chunk))
    return total


def _content_range(resp: requests.Response) -> tuple[int | None, int | None, int | None]:
    """(first byte, last byte, total) of a ``Content-Range`` header; None where it says ``*``."""
    header = resp.headers.get("Content-Range", "")
    match = re.fullmatch(r"bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)", header.strip())
    if match is None:
        raise _TransientError(f"unreadable Content-Range header {header!r}")
    return tuple(int(g) if g not in (None, "*") else None for g in match.groups())  # type: ignore[return-value]


@dataclass(frozen=True)
class ArchiveMember:
    name: str
    is_dir: bool
    is_link: bool


def archive_members(archive: Path) -> list[ArchiveMember]:
    """The members of a .zip or .7z archive, read from its directory without extracting."""
    if archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as zf:
            return [
                ArchiveMember(i.filename, i.is_dir(), stat.S_ISLNK(i.external_attr >> 16))
                for i in zf.infolist()
            ]
    if archive.suffix == ".7z":
        with py7zr.SevenZipFile(archive) as sz:
            return [ArchiveMember(f.filename, f.is_directory, f.is_symlink) for f in sz.list()]
    raise ValueError(f"{archive}: unsupported archive type (expected .zip or .7z)")


def _name_parts(name: str) -> list[str]:
    return [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]


def unsafe_member_reason(member: ArchiveMember) -> str | None:
    """Why extracting ``member`` could write outside the target folder; None if it cannot.

    Links are refused outright: the datasets hold only files and folders, and a link is the
    one way a well-named member could still point elsewhere.
    """
    name = member.name
    if member.is_link:
        return "is a link; these archives hold only files and folders"
    if "\x00" in name or not (_name_parts(name) or member.is_dir):
        return "has an empty or invalid name"
    if name.startswith(("/", "\\")) or PureWindowsPath(name).drive:
        return "has an absolute path"
    if ".." in name.replace("\\", "/").split("/"):
        return "contains '..' and would land outside the target folder"
    return None


def check_members(archive: Path, members: Sequence[ArchiveMember]) -> None:
    for member in members:
        reason = unsafe_member_reason(member)
        if reason is not None:
            raise UnsafeArchiveError(archive, member.name, reason)


def _top_folder(members: Sequence[ArchiveMember]) -> str | None:
    """The one top-level folder that holds every member, if there is one."""
    tops = set()
    for member in members:
        parts = _name_parts(member.name)
        if len(parts) == 1 and not member.is_dir:
            return None
        if parts:  # a "./" entry names the archive root itself
            tops.add(parts[0])
    return tops.pop() if len(tops) == 1 else None


def _extract_all(archive: Path, into: Path) -> None:
    if archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(into)
    else:
        with py7zr.SevenZipFile(archive) as sz:
            sz.extractall(path=into)


def extract_archive(
    archive: str | os.PathLike, dest_dir: str | os.PathLike, target: str | None = None
) -> tuple[Path, int]:
    """Unpack ``archive`` into ``dest_dir/<target>``; return that folder and its file count.

    ``target`` None keeps the archive's own top-level folder (or its stem if it has none); with
    a ``target``, a single top-level folder is unwrapped so its contents land in ``target``.
    A folder with the completion marker is skipped; a staging folder left by an interrupted
    run is discarded and the extraction redone.
    """
    archive, dest_dir = Path(archive), Path(dest_dir)
    members = archive_members(archive)
    check_members(archive, members)
    top = _top_folder(members)
    final = dest_dir / (target or top or archive.stem)
    marker = final / EXTRACTED_MARKER
    if marker.exists():
        log.info("%s: already extracted to %s", archive.name, final)
        return final, json.loads(marker.read_text())["members"]
    if final.exists():
        raise FileExistsError(
            f"{final} exists but was not extracted from {archive.name} by this tool (no "
            f"{EXTRACTED_MARKER} inside); move it away and run again"
        )
    staging = dest_dir / f".{archive.name}.extracting"
    if staging.exists():
        log.info("%s: discarding the interrupted extraction in %s", archive.name, staging)
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    log.info("%s: extracting %d members", archive.name, len(members))
    _extract_all(archive, staging)
    root = staging / top if top else staging
    files = sum(not m.is_dir for m in members)
    (root / EXTRACTED_MARKER).write_text(json.dumps({"archive": archive.name, "members": files}))
    os.replace(root, final)
    if top:
        staging.rmdir()
    return final, files


def _fetch_file(
    remote: RemoteFile, dest_dir: Path, base_url: str | None, options: dict[str, Any]
) -> dict[str, Any]:
    url = remote_url(remote, base_url)
    check = _file_check(remote)
    path = download(url, dest_dir / remote.name, remote.md5, remote.size, check=check, **options)
    entry: dict[str, Any] = {
        "name": remote.name,
        "url": url,
        "bytes": path.stat().st_size,
        "md5": remote.md5 or file_md5(path),
        "md5_verified": remote.md5 is not None,
        "format_checked": check is not None,
    }
    if remote.extract:
        folder, members = extract_archive(path, dest_dir, remote.extract_to)
        entry.update(extracted_to=folder.name, members=members)
    return entry


def fetch_dataset(
    name: str, dest_dir: str | os.PathLike, base_url: str | None = None, **options: Any
) -> dict[str, Any]:
    """Download, verify and unpack every file of dataset ``name`` into ``dest_dir``.

    ``base_url`` replaces the host and path of every file (a mirror, or a test server) and
    keeps the file name. ``options`` go to ``download`` (session, retries, backoff_s,
    timeout_s, progress). Writes and returns ``dest_dir/fetch_report.json``.
    """
    files = dataset_files(name)
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    options.setdefault("session", requests.Session())
    entries = [_fetch_file(remote, dest_dir, base_url, options) for remote in files]
    report = {
        "dataset": name,
        "base_url": base_url,
        "files": entries,
        "total_bytes": sum(e["bytes"] for e in entries),
    }
    tmp = dest_dir / f".{REPORT_NAME}.tmp"
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    os.replace(tmp, dest_dir / REPORT_NAME)
    log.info("%s: %d files, %d bytes in %s", name, len(entries), report["total_bytes"], dest_dir)
    return report
