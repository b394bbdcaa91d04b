"""Dataset download layer against a real HTTP server on 127.0.0.1 serving generated files."""

from __future__ import annotations

import hashlib
import json
import logging
import random
import runpy
import socket
import struct
import threading
import zipfile
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import py7zr
import pytest

from tacos import cli
from tacos.data import fetch
from tacos.data.fetch import (
    CorruptDownloadError,
    DownloadError,
    RemoteFile,
    UnsafeArchiveError,
    download,
    extract_archive,
    fetch_dataset,
    remote_url,
    tsv_problem,
)
from tacos.data.formats import AUDIOSET_STRONG_COLUMNS

REPO = Path(__file__).resolve().parents[2]
FAST = {"retries": 2, "backoff_s": 0.0, "timeout_s": 10.0, "progress": False}


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def random_bytes(n: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(n)


@dataclass
class ServerState:
    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    drop_after: dict[str, int] = field(default_factory=dict)  # path -> bytes sent, next request
    ignore_range: bool = False


class RangeHandler(BaseHTTPRequestHandler):
    """Serves ServerState.files with single ``bytes=N-`` ranges, or drops a transfer on demand."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        state: ServerState = self.server.state
        range_header = self.headers.get("Range")
        state.requests.append((self.path, range_header))
        body = state.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = 0
        if range_header and not state.ignore_range:
            start = int(range_header.removeprefix("bytes=").removesuffix("-"))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        drop = state.drop_after.pop(self.path, None)
        if drop is None:
            self.wfile.write(body[start:])
            return
        self.wfile.write(body[start : start + drop])
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    httpd.daemon_threads = True
    httpd.state = ServerState()
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def serve(server, path: str, data: bytes) -> str:
    server.state.files[path] = data
    return server.url + path


# ---------------------------------------------------------------- download


def test_download_verifies_and_moves_into_place(server, tmp_path):
    data = random_bytes(300_000)
    url = serve(server, "/f/a.bin", data)
    dest = download(url, tmp_path / "a.bin", md5(data), len(data), **FAST)
    assert dest == tmp_path / "a.bin"
    assert dest.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]
    assert server.state.requests == [("/f/a.bin", None)]


def test_interrupted_transfer_resumes_with_range(server, tmp_path):
    data = random_bytes(300_000, seed=1)
    url = serve(server, "/f/b.bin", data)
    server.state.drop_after["/f/b.bin"] = 100_000
    dest = download(url, tmp_path / "b.bin", md5(data), len(data), **FAST)
    assert dest.read_bytes() == data
    assert server.state.requests == [("/f/b.bin", None), ("/f/b.bin", "bytes=100000-")]


def test_resume_without_published_size_uses_announced_size(server, tmp_path):
    data = random_bytes(50_000, seed=2)
    url = serve(server, "/f/c.bin", data)
    server.state.drop_after["/f/c.bin"] = 20_000
    dest = download(url, tmp_path / "c.bin", **FAST)
    assert dest.read_bytes() == data
    assert server.state.requests[1] == ("/f/c.bin", "bytes=20000-")


def test_part_left_by_an_earlier_run_is_continued(server, tmp_path):
    data = random_bytes(40_000, seed=3)
    url = serve(server, "/f/d.bin", data)
    (tmp_path / "d.bin.part").write_bytes(data[:15_000])
    download(url, tmp_path / "d.bin", md5(data), len(data), **FAST)
    assert (tmp_path / "d.bin").read_bytes() == data
    assert server.state.requests == [("/f/d.bin", "bytes=15000-")]


def test_complete_part_without_published_size_is_finished_after_416(server, tmp_path):
    data = random_bytes(30_000, seed=7)
    url = serve(server, "/f/k.bin", data)
    (tmp_path / "k.bin.part").write_bytes(data)
    download(url, tmp_path / "k.bin", md5(data), **FAST)
    assert (tmp_path / "k.bin").read_bytes() == data
    assert server.state.requests == [("/f/k.bin", "bytes=30000-")]


def test_server_ignoring_range_restarts_cleanly(server, tmp_path):
    data = random_bytes(40_000, seed=4)
    url = serve(server, "/f/e.bin", data)
    server.state.ignore_range = True
    (tmp_path / "e.bin.part").write_bytes(b"x" * 1000)  # not a prefix of data: must be dropped
    download(url, tmp_path / "e.bin", md5(data), len(data), **FAST)
    assert (tmp_path / "e.bin").read_bytes() == data
    assert server.state.requests == [("/f/e.bin", "bytes=1000-")]


@pytest.mark.parametrize(
    ("expected_md5", "expected_size", "problem"),
    [
        (md5(b"the published bytes"), None, "md5 mismatch: expected {md5}, got {got}"),
        (None, 999, "size mismatch: expected 999 bytes, got 12"),
    ],
)
def test_corrupted_download_is_rejected_and_moved_aside(
    server, tmp_path, expected_md5, expected_size, problem
):
    served = b"other bytes!"
    url = serve(server, "/f/g.csv", served)
    with pytest.raises(CorruptDownloadError) as caught:
        download(url, tmp_path / "g.csv", expected_md5, expected_size, **FAST)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'g.csv'}: ")
    assert problem.format(md5=expected_md5, got=md5(served)) in message
    assert f"the bytes were moved to {tmp_path / 'g.csv.corrupt'}" in message
    assert "Fix: run the download again" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.csv.corrupt"]
    assert (tmp_path / "g.csv.corrupt").read_bytes() == served


def test_present_file_is_not_downloaded_again(server, tmp_path):
    data = random_bytes(10_000, seed=5)
    url = serve(server, "/f/h.bin", data)
    for _ in range(2):
        download(url, tmp_path / "h.bin", md5(data), len(data), **FAST)
    assert len(server.state.requests) == 1


def test_present_file_with_wrong_md5_is_replaced(server, tmp_path):
    data = random_bytes(10_000, seed=6)
    url = serve(server, "/f/i.bin", data)
    (tmp_path / "i.bin").write_bytes(b"stale")
    download(url, tmp_path / "i.bin", md5(data), **FAST)
    assert (tmp_path / "i.bin").read_bytes() == data
    assert (tmp_path / "i.bin.corrupt").read_bytes() == b"stale"


def test_missing_file_fails_at_once_with_the_url(server, tmp_path):
    with pytest.raises(DownloadError, match=r"/nope\.bin: HTTP 404"):
        download(server.url + "/nope.bin", tmp_path / "nope.bin", **FAST)
    assert len(server.state.requests) == 1


def test_unreachable_server_gives_up_after_retries(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DownloadError, match="giving up after 2 retries without progress"):
        download(f"http://127.0.0.1:{port}/x.bin", tmp_path / "x.bin", **FAST)


STRONG_TSV = (
    "segment_id\tstart_time_seconds\tend_time_seconds\tlabel\nabc_30000\t0.0\t1.5\t/m/09x0r\n"
)


def test_format_check_replaces_md5_for_tsv_files(server, tmp_path):
    good = serve(server, "/s/good.tsv", STRONG_TSV.encode())
    bad = serve(server, "/s/bad.tsv", b"<html>Not the file</html>\n")
    check = fetch._file_check(fetch.DATASETS["audioset_strong"][0])
    download(good, tmp_path / "good.tsv", check=check, **FAST)
    with pytest.raises(CorruptDownloadError, match=r"header is \['<html>Not the file</html>'\]"):
        download(bad, tmp_path / "bad.tsv", check=check, **FAST)
    assert (tmp_path / "bad.tsv.corrupt").exists()


def test_tsv_problem_names_the_bad_line(tmp_path):
    path = tmp_path / "m.tsv"
    path.write_text("/m/1\tSpeech\n/m/2\tDog\tbark\n")
    assert tsv_problem(path, ("mid", "display_name"), header=False) == (
        "line 2 has 3 tab-separated fields, expected 2 (mid, display_name)"
    )


def test_shipped_mid_to_display_name_passes_its_check():
    remote = fetch.DATASETS["audioset_strong"][2]
    assert remote.name == "mid_to_display_name.tsv"
    resource = REPO / "src/tacos/data/resources/mid_to_display_name.tsv"
    assert fetch._file_check(remote)(resource) is None


# ---------------------------------------------------------------- archives


def make_zip(path: Path, members: dict[str, bytes], links: tuple[str, ...] = ()) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777) << 16
            zf.writestr(info, b"../../etc")
    return path


def make_7z(path: Path, members: dict[str, bytes]) -> Path:
    with py7zr.SevenZipFile(path, "w") as sz:
        for name, data in members.items():
            sz.writestr(data, name)
    return path


def make_7z_with_parent_member(path: Path) -> Path:
    """py7zr refuses to write '..': write 'xx/evil.txt' with a plain header, then patch it."""
    sz = py7zr.SevenZipFile(path, "w")
    sz.encoded_header_mode = False
    sz.writestr(b"evil", "xx/evil.txt")
    sz.close()
    data = bytearray(path.read_bytes())
    at = data.index("xx/evil.txt".encode("utf-16-le"))
    data[at : at + 4] = "..".encode("utf-16-le")
    offset, length = struct.unpack_from("<QQ", data, 12)
    header = bytes(data[32 + offset : 32 + offset + length])
    struct.pack_into("<I", data, 28, zlib.crc32(header))
    struct.pack_into("<I", data, 8, zlib.crc32(bytes(data[12:32])))
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        ("../evil.txt", "contains '..' and would land outside the target folder"),
        ("ok/../../evil.txt", "contains '..' and would land outside the target folder"),
        ("/abs/evil.txt", "has an absolute path"),
    ],
)
def test_zip_members_escaping_the_target_are_rejected(tmp_path, member, reason):
    archive = make_zip(tmp_path / "bad.zip", {"audio/fine.mp3": b"a", member: b"b"})
    dest = tmp_path / "out"
    with pytest.raises(UnsafeArchiveError) as caught:
        extract_archive(archive, dest)
    assert str(caught.value).startswith(f"{archive}: member {member!r} {reason}")
    assert caught.value.member == member
    assert not dest.exists()
    assert not (tmp_path / "evil.txt").exists()


def test_zip_link_member_is_rejected(tmp_path):
    archive = make_zip(tmp_path / "link.zip", {"audio/a.mp3": b"a"}, links=("audio/l",))
    with pytest.raises(UnsafeArchiveError, match="member 'audio/l' is a link"):
        extract_archive(archive, tmp_path / "out")


def test_7z_member_with_parent_reference_is_rejected(tmp_path):
    archive = make_7z_with_parent_member(tmp_path / "bad.7z")
    assert fetch.archive_members(archive)[0].name == "../evil.txt"
    with pytest.raises(UnsafeArchiveError, match=r"member '\.\./evil\.txt' contains '\.\.'"):
        extract_archive(archive, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()


def test_zip_with_top_folder_lands_in_target(tmp_path):
    archive = make_zip(tmp_path / "audio.zip", {"audio/1.mp3": b"one", "audio/sub/2.mp3": b"two"})
    folder, members = extract_archive(archive, tmp_path / "ds", target="audio")
    assert (folder, members) == (tmp_path / "ds" / "audio", 2)
    assert (folder / "1.mp3").read_bytes() == b"one"
    assert (folder / "sub/2.mp3").read_bytes() == b"two"
    assert sorted(p.name for p in (tmp_path / "ds").iterdir()) == ["audio"]


def test_flat_zip_lands_in_target(tmp_path):
    archive = make_zip(tmp_path / "audio.zip", {"1.mp3": b"one", "2.mp3": b"two"})
    folder, members = extract_archive(archive, tmp_path / "ds", target="audio")
    assert (folder, members) == (tmp_path / "ds" / "audio", 2)
    assert sorted(p.name for p in folder.iterdir()) == [".tacos_extracted.json", "1.mp3", "2.mp3"]


def test_root_entry_does_not_hide_the_top_folder(tmp_path):
    archive = make_zip(tmp_path / "audio.zip", {"./": b"", "./audio/1.mp3": b"one"})
    folder, members = extract_archive(archive, tmp_path / "ds", target="audio")
    assert (folder, members) == (tmp_path / "ds" / "audio", 1)
    assert (folder / "1.mp3").read_bytes() == b"one"


def test_7z_keeps_its_own_folder(tmp_path):
    archive = make_7z(
        tmp_path / "clotho_audio_development.7z",
        {"development/a.wav": b"A", "development/b.wav": b"B"},
    )
    folder, members = extract_archive(archive, tmp_path / "clotho")
    assert (folder, members) == (tmp_path / "clotho" / "development", 2)
    assert (folder / "b.wav").read_bytes() == b"B"


def test_interrupted_extraction_is_redone_and_finished_one_skipped(tmp_path, monkeypatch):
    archive = make_zip(tmp_path / "audio.zip", {"audio/1.mp3": b"one"})
    dest = tmp_path / "ds"
    staging = dest / ".audio.zip.extracting"
    (staging / "audio").mkdir(parents=True)
    (staging / "audio" / "half.mp3").write_bytes(b"half")
    calls = []
    real = fetch._extract_all
    monkeypatch.setattr(fetch, "_extract_all", lambda a, into: (calls.append(a), real(a, into)))
    for _ in range(2):
        assert extract_archive(archive, dest, "audio") == (dest / "audio", 1)
    assert len(calls) == 1
    assert sorted(p.name for p in (dest / "audio").iterdir()) == [".tacos_extracted.json", "1.mp3"]
    assert not staging.exists()


def test_foreign_folder_in_the_way_is_not_overwritten(tmp_path):
    archive = make_zip(tmp_path / "audio.zip", {"1.mp3": b"one"})
    (tmp_path / "ds" / "audio").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="no .tacos_extracted.json inside"):
        extract_archive(archive, tmp_path / "ds", "audio")


# ---------------------------------------------------------------- registry and fetch_dataset


def test_registry_matches_design():
    tacos = fetch.DATASETS["tacos"]
    assert [f.name for f in tacos] == [
        "annotations_strong.csv",
        "annotations_weak.csv",
        "metadata.csv",
        "development_split.csv",
        "test_split.csv",
        "audio.zip",
    ]
    assert tacos[0].url == (
        "https://zenodo.org/api/records/15379789/files/annotations_strong.csv/content"
    )
    assert [(f.name, f.extract_to) for f in tacos if f.extract] == [("audio.zip", "audio")]
    assert tacos[-1].size == 1_629_958_981
    clotho = fetch.DATASETS["clotho"]
    assert [f.name for f in clotho if f.extract] == [
        "clotho_audio_development.7z",
        "clotho_audio_validation.7z",
        "clotho_audio_evaluation.7z",
    ]
    assert all(f.url.startswith("https://zenodo.org/api/records/4783391/files/") for f in clotho)
    assert all(len(f.md5) == 32 for f in tacos + clotho)
    assert [(f.md5, f.tsv_header) for f in fetch.DATASETS["audioset_strong"]] == [
        (None, True),
        (None, True),
        (None, False),
    ]
    assert remote_url(tacos[0], "http://mirror/x/") == "http://mirror/x/annotations_strong.csv"


@pytest.fixture
def tiny_dataset(server, tmp_path, monkeypatch):
    """A fake registry entry served under <server>/mirror with the files' real md5 and size."""
    labels = b"filename,text\n1.mp3,a dog barks\n"
    zipped = make_zip(tmp_path / "src.zip", {"1.mp3": b"one", "2.mp3": b"two"}).read_bytes()
    sevenz = make_7z(tmp_path / "src.7z", {"development/a.wav": b"A"}).read_bytes()
    files = {
        "labels.csv": labels,
        "audio.zip": zipped,
        "clotho_audio_development.7z": sevenz,
        "strong.tsv": STRONG_TSV.encode(),
    }
    for name, data in files.items():
        serve(server, f"/mirror/{name}", data)
    official = "https://zenodo.invalid/{}"
    monkeypatch.setitem(
        fetch.DATASETS,
        "tiny",
        (
            RemoteFile("labels.csv", official.format("labels.csv"), md5(labels), len(labels)),
            RemoteFile(
                "audio.zip",
                official.format("audio.zip"),
                md5(zipped),
                len(zipped),
                extract=True,
                extract_to="audio",
            ),
            RemoteFile(
                "clotho_audio_development.7z",
                official.format("c.7z"),
                md5(sevenz),
                None,
                extract=True,
            ),
            RemoteFile(
                "strong.tsv",
                official.format("strong.tsv"),
                None,
                None,
                tsv_columns=AUDIOSET_STRONG_COLUMNS,
            ),
        ),
    )
    return files


def test_fetch_dataset_end_to_end(server, tmp_path, tiny_dataset):
    dest = tmp_path / "data"
    base = server.url + "/mirror/"
    server.state.drop_after["/mirror/audio.zip"] = 100
    report = fetch_dataset("tiny", dest, base, **FAST)
    tsv = STRONG_TSV.encode()
    expected_files = [
        {
            "name": "labels.csv",
            "url": base + "labels.csv",
            "bytes": len(tiny_dataset["labels.csv"]),
            "md5": md5(tiny_dataset["labels.csv"]),
            "md5_verified": True,
            "format_checked": False,
        },
        {
            "name": "audio.zip",
            "url": base + "audio.zip",
            "bytes": len(tiny_dataset["audio.zip"]),
            "md5": md5(tiny_dataset["audio.zip"]),
            "md5_verified": True,
            "format_checked": False,
            "extracted_to": "audio",
            "members": 2,
        },
        {
            "name": "clotho_audio_development.7z",
            "url": base + "clotho_audio_development.7z",
            "bytes": len(tiny_dataset["clotho_audio_development.7z"]),
            "md5": md5(tiny_dataset["clotho_audio_development.7z"]),
            "md5_verified": True,
            "format_checked": False,
            "extracted_to": "development",
            "members": 1,
        },
        {
            "name": "strong.tsv",
            "url": base + "strong.tsv",
            "bytes": len(tsv),
            "md5": md5(tsv),
            "md5_verified": False,
            "format_checked": True,
        },
    ]
    assert report == {
        "dataset": "tiny",
        "base_url": base,
        "files": expected_files,
        "total_bytes": sum(f["bytes"] for f in expected_files),
    }
    assert json.loads((dest / "fetch_report.json").read_text()) == report
    assert (dest / "audio" / "2.mp3").read_bytes() == b"two"
    assert (dest / "development" / "a.wav").read_bytes() == b"A"
    assert ("/mirror/audio.zip", "bytes=100-") in server.state.requests
    requests_before = len(server.state.requests)
    assert fetch_dataset("tiny", dest, base, **FAST) == report
    assert len(server.state.requests) == requests_before


def test_fetch_dataset_continues_after_a_failed_run(server, tmp_path, tiny_dataset):
    dest = tmp_path / "data"
    server.state.files.pop("/mirror/strong.tsv")
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch_dataset("tiny", dest, server.url + "/mirror", **FAST)
    server.state.files["/mirror/strong.tsv"] = STRONG_TSV.encode()
    server.state.requests.clear()
    fetch_dataset("tiny", dest, server.url + "/mirror", **FAST)
    assert server.state.requests == [("/mirror/strong.tsv", None)]


def test_unknown_dataset_names_the_known_ones(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset 'nope'; known: audioset_strong, clotho"):
        fetch_dataset("nope", tmp_path)


# ---------------------------------------------------------------- entry points


def test_cli_fetches_and_reports_failures(
    server, tmp_path, tiny_dataset, capsys, monkeypatch, restore_root_logger
):
    monkeypatch.setattr(fetch, "download", _fast(fetch.download))
    assert (
        cli.main(["fetch", "tiny", str(tmp_path / "d"), "--base-url", server.url + "/mirror"]) == 0
    )
    assert "tiny: 4 files" in capsys.readouterr().out
    assert cli.main(["fetch", "tiny", str(tmp_path / "e"), "--base-url", server.url + "/gone"]) == 1
    assert "tacos fetch: http" in capsys.readouterr().err


def _fast(download_fn):
    def wrapped(*args, **kwargs):
        return download_fn(*args, **{**kwargs, **FAST})

    return wrapped


@pytest.fixture
def restore_root_logger():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


def test_snakemake_script_fetches_into_output_and_logs(
    server, tmp_path, tiny_dataset, monkeypatch, restore_root_logger
):
    monkeypatch.setattr(fetch, "download", _fast(fetch.download))
    smk = SimpleNamespace(
        params=SimpleNamespace(dataset="tiny", base_url=server.url + "/mirror"),
        output=[str(tmp_path / "tiny" / "fetch_report.json")],
        log=[str(tmp_path / "fetch.log")],
    )
    runpy.run_path(str(REPO / "workflow/scripts/fetch_dataset.py"), init_globals={"snakemake": smk})
    assert json.loads((tmp_path / "tiny" / "fetch_report.json").read_text())["dataset"] == "tiny"
    assert "labels.csv: verified" in (tmp_path / "fetch.log").read_text()
