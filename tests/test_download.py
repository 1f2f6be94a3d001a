"""harness data pull / check machinery, against a loopback HTTP server (127.0.0.1 only)."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import urllib.request
import zipfile
from pathlib import Path

import pytest
from rich.console import Console

from harness.benchmark import DataSource
from harness.data.http import build_request, hf_token_for
from harness.data.pull import check, pull, render_check, render_pull
from harness.errors import HarnessError
from tests.http_fixture_server import FixtureServer

pytestmark = pytest.mark.timeout(60)

FAST = {"progress": False, "retry_wait": 0.0, "timeout": 10.0}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def payload(n: int, seed: int = 0) -> bytes:
    """Deterministic, non-repeating bytes (so a misplaced resume would show)."""
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}:{i}".encode()).digest()
        i += 1
    return bytes(out[:n])


def make_zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def make_targz(members: dict[str, bytes], symlinks: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, target in (symlinks or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tf.addfile(info)
    return buf.getvalue()


def render(table) -> str:
    console = Console(file=io.StringIO(), width=300, record=True)
    console.print(table)
    return console.export_text()


def test_zip_and_targz_pulled_verified_unpacked_and_then_skipped(tmp_path: Path) -> None:
    images = {f"images/{i:03d}.jpg": payload(3000 + i, seed=i) for i in range(1, 4)}
    zdata = make_zip({**images, "questions.jsonl": b'{"question_id": 0}\n'})
    tdata = make_targz({"data/annotations.json": b"[1, 2, 3]", "data/query/q.json": b"{}"})
    with FixtureServer({"/bench.zip": zdata, "/amber.tar.gz": tdata}) as srv:
        sources = [
            DataSource("bench.zip", url=srv.url("/bench.zip"), sha256=sha256(zdata), unpack=True),
            DataSource("sub/amber.tar.gz", url=srv.url("/amber.tar.gz"), md5=md5(tdata), unpack=True),
        ]
        report = pull(sources, tmp_path, **FAST)
        assert [e.status for e in report.entries] == ["downloaded", "downloaded"]
        assert [e.unpacked for e in report.entries] == [4, 2]
        for name, data in images.items():
            assert (tmp_path / name).read_bytes() == data
        assert (tmp_path / "sub/data/annotations.json").read_bytes() == b"[1, 2, 3]"
        assert not list(tmp_path.rglob("*.part"))
        record = json.loads((tmp_path / "checksums.json").read_text())["files"]
        assert record["bench.zip"]["sha256"] == sha256(zdata)
        assert record["sub/amber.tar.gz"]["md5"] == md5(tdata)
        assert record["sub/amber.tar.gz"]["sha256"] == sha256(tdata)

        # A second pull downloads nothing and does not re-extract.
        (tmp_path / "images/001.jpg").write_bytes(b"edited by the user")
        again = pull(sources, tmp_path, **FAST)
        assert [e.status for e in again.entries] == ["present", "present"]
        assert [e.unpacked for e in again.entries] == [None, None]
        assert (tmp_path / "images/001.jpg").read_bytes() == b"edited by the user"
        assert len(srv.requests) == 2
        assert check(sources, tmp_path).ok


def test_interrupted_download_resumes_on_rerun_with_range(tmp_path: Path) -> None:
    data = payload(200_000)
    with FixtureServer({"/big.bin": data}) as srv:
        srv.cut_after["/big.bin"] = (70_000, 1)
        src = [DataSource("big.bin", url=srv.url("/big.bin"), sha256=sha256(data))]
        with pytest.raises(HarnessError) as err:
            pull(src, tmp_path, retries=0, **FAST)
        assert "big.bin" in str(err.value) and "resume" in str(err.value)
        part = tmp_path / "big.bin.part"
        assert part.stat().st_size == 70_000
        assert not (tmp_path / "big.bin").exists()
        before = check(src, tmp_path).entries[0]
        assert before.status == "missing" and before.partial == 70_000

        report = pull(src, tmp_path, retries=0, **FAST)
        second = srv.seen("/big.bin")[1]
        assert second.headers["range"] == "bytes=70000-" and second.status == 206
        assert report.entries[0].resumed_from == 70_000
        assert (tmp_path / "big.bin").read_bytes() == data
        assert not part.exists()


def test_connection_errors_and_5xx_retried_within_one_pull(tmp_path: Path) -> None:
    data = payload(50_000, seed=7)
    with FixtureServer({"/f.bin": data}) as srv:
        srv.fail_first["/f.bin"] = (503, 1)
        srv.cut_after["/f.bin"] = (10_000, 2)  # counts GETs: the 503, then a cut, then a good resume
        report = pull([DataSource("f.bin", url=srv.url("/f.bin"), sha256=sha256(data))], tmp_path, retries=3, **FAST)
        statuses = [(r.status, r.headers.get("range")) for r in srv.seen("/f.bin")]
        assert statuses == [(503, None), (200, None), (206, "bytes=10000-")]
        assert report.entries[0].attempts == 3
        assert (tmp_path / "f.bin").read_bytes() == data


def test_retries_are_bounded(tmp_path: Path) -> None:
    with FixtureServer({"/f.bin": b"x" * 100}) as srv:
        srv.fail_first["/f.bin"] = (502, 100)
        with pytest.raises(HarnessError, match="failed after 3 attempt"):
            pull([DataSource("f.bin", url=srv.url("/f.bin"))], tmp_path, retries=2, **FAST)
        assert len(srv.seen("/f.bin")) == 3


def test_client_error_not_retried_and_named(tmp_path: Path) -> None:
    with FixtureServer({}) as srv:
        with pytest.raises(HarnessError, match=r"missing\.json.*404"):
            pull([DataSource("missing.json", url=srv.url("/missing.json"))], tmp_path, retries=3, **FAST)
        assert len(srv.requests) == 1


@pytest.mark.parametrize("algo", ["sha256", "md5"])
def test_checksum_mismatch_refused(tmp_path: Path, algo: str) -> None:
    data = payload(5000)
    wrong = "0" * (64 if algo == "sha256" else 32)
    actual = sha256(data) if algo == "sha256" else md5(data)
    with FixtureServer({"/q.json": data}) as srv:
        src = [DataSource("q.json", url=srv.url("/q.json"), **{algo: wrong})]
        with pytest.raises(HarnessError) as err:
            pull(src, tmp_path, **FAST)
    msg = str(err.value)
    assert "q.json" in msg and wrong in msg and actual in msg
    assert not (tmp_path / "q.json").exists()
    assert not (tmp_path / "q.json.part").exists()
    assert not (tmp_path / "checksums.json").exists()


def test_server_ignoring_range_still_ends_correct(tmp_path: Path) -> None:
    data = payload(120_000, seed=3)
    with FixtureServer({"/x.tsv": data}) as srv:
        srv.ignore_range = True
        srv.cut_after["/x.tsv"] = (40_000, 1)
        src = [DataSource("x.tsv", url=srv.url("/x.tsv"), md5=md5(data))]
        with pytest.raises(HarnessError):
            pull(src, tmp_path, retries=0, **FAST)
        report = pull(src, tmp_path, retries=0, **FAST)
        second = srv.seen("/x.tsv")[1]
        assert second.headers["range"] == "bytes=40000-" and second.status == 200
        entry = report.entries[0]
        assert entry.range_ignored and entry.resumed_from == 0
        assert (tmp_path / "x.tsv").read_bytes() == data


def test_complete_part_answered_416_is_used(tmp_path: Path) -> None:
    data = payload(9000)
    (tmp_path / "a.bin.part").write_bytes(data)
    with FixtureServer({"/a.bin": data}) as srv:
        pull([DataSource("a.bin", url=srv.url("/a.bin"), sha256=sha256(data))], tmp_path, **FAST)
        assert [r.status for r in srv.requests] == [416]
    assert (tmp_path / "a.bin").read_bytes() == data


def test_check_before_and_after_pull(tmp_path: Path) -> None:
    a, b = payload(1000, 1), payload(2000, 2)
    with FixtureServer({"/a.json": a, "/b.json": b}) as srv:
        sources = [
            DataSource("a.json", url=srv.url("/a.json"), sha256=sha256(a)),
            DataSource("b.json", url=srv.url("/b.json")),  # no published checksum
            DataSource("images.zip", manual=True, note="Download images.zip from the drive link."),
        ]
        before = check(sources, tmp_path)
        assert [e.status for e in before.entries] == ["missing", "missing", "manual-missing"]
        assert not before.ok
        pull(sources, tmp_path, **FAST)
    after = check(sources, tmp_path)
    assert [e.status for e in after.entries] == ["present", "present", "manual-missing"]
    assert after.entries[0].sha256 == sha256(a)

    (tmp_path / "a.json").write_bytes(b"corrupt")
    (tmp_path / "b.json").write_bytes(b"changed")
    bad = check(sources, tmp_path)
    assert [e.status for e in bad.entries[:2]] == ["checksum-mismatch", "checksum-mismatch"]
    assert bad.entries[0].expected == f"sha256:{sha256(a)}"
    assert bad.entries[0].actual == f"sha256:{sha256(b'corrupt')}"
    assert bad.entries[1].expected == f"sha256:{sha256(b)}"  # from checksums.json
    text = render(render_check(bad))
    assert "checksum-mismatch" in text and sha256(a) in text and "Download images.zip" in text


def test_pull_replaces_corrupted_file(tmp_path: Path) -> None:
    data = payload(3000)
    (tmp_path / "a.json").write_bytes(b"truncated")
    with FixtureServer({"/a.json": data}) as srv:
        report = pull([DataSource("a.json", url=srv.url("/a.json"), sha256=sha256(data))], tmp_path, **FAST)
    assert report.entries[0].status == "downloaded" and "expected" in report.entries[0].replaced
    assert (tmp_path / "a.json").read_bytes() == data


def test_manual_source_reported_with_note(tmp_path: Path) -> None:
    note = "Download AMBER images (Google Drive file 1MaCHgtupcZUjf007anNl4_MV0o4DjXvl) and put the zip here."
    image_zip = make_zip({"image/AMBER_1.jpg": b"jpg"})
    src = [DataSource("images.zip", manual=True, note=note, sha256=sha256(image_zip), unpack=True)]
    with FixtureServer({}) as srv:
        report = pull(src, tmp_path, **FAST)
        assert srv.requests == []
    entry = report.entries[0]
    assert entry.status == "manual-missing" and entry.note == note
    assert report.manual_missing == [entry] and not report.complete
    text = render(render_pull(report))
    assert "1MaCHgtupcZUjf007anNl4_MV0o4DjXvl" in text and str(tmp_path / "images.zip") in text

    (tmp_path / "images.zip").write_bytes(image_zip)
    placed = pull(src, tmp_path, **FAST)
    assert placed.entries[0].status == "manual-present" and placed.entries[0].unpacked == 1
    assert (tmp_path / "image/AMBER_1.jpg").read_bytes() == b"jpg"
    assert check(src, tmp_path).ok


def make_zip_with_symlink() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("ok.txt", b"1")
        info = zipfile.ZipInfo("link")
        info.external_attr = 0o120777 << 16  # a Unix symlink entry
        zf.writestr(info, "../../etc/passwd")
    return buf.getvalue()


@pytest.mark.parametrize("kind", ["zip-dotdot", "zip-absolute", "zip-symlink", "tar-dotdot", "tar-symlink"])
def test_unsafe_archive_member_refused(tmp_path: Path, kind: str) -> None:
    if kind == "zip-dotdot":
        data, member, name = make_zip({"ok.txt": b"1", "../evil.txt": b"x"}), "../evil.txt", "a.zip"
    elif kind == "zip-absolute":
        data, member, name = make_zip({"ok.txt": b"1", "/tmp/evil.txt": b"x"}), "/tmp/evil.txt", "a.zip"
    elif kind == "zip-symlink":
        data, member, name = make_zip_with_symlink(), "link", "a.zip"
    elif kind == "tar-dotdot":
        data, member, name = make_targz({"ok.txt": b"1", "d/../../evil.txt": b"x"}), "d/../../evil.txt", "a.tgz"
    else:
        data, member, name = make_targz({"ok.txt": b"1"}, symlinks={"link": "../../etc"}), "link", "a.tgz"
    dest = tmp_path / "data"
    with FixtureServer({"/" + name: data}) as srv:
        with pytest.raises(HarnessError) as err:
            pull([DataSource(name, url=srv.url("/" + name), unpack=True)], dest, **FAST)
    assert name in str(err.value) and repr(member) in str(err.value)
    assert not (dest / "ok.txt").exists()  # checked before anything is written
    assert not (tmp_path / "evil.txt").exists()
    assert not list(tmp_path.rglob(".*.unpacked.json"))


@pytest.mark.parametrize("path", ["../up.json", "/abs.json", "checksums.json", ""])
def test_source_path_outside_data_dir_refused(tmp_path: Path, path: str) -> None:
    with pytest.raises(HarnessError, match="data source"):
        pull([DataSource(path, url="http://127.0.0.1:9/x")], tmp_path / "d", **FAST)


def test_hf_token_only_for_huggingface_and_not_across_redirects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_secret_value")
    hf = "https://huggingface.co/datasets/liuhaotian/llava-bench-in-the-wild/resolve/main/questions.jsonl"
    assert hf_token_for(hf) == "hf_secret_value"
    assert hf_token_for("https://cdn-lfs.huggingface.co/x") == "hf_secret_value"
    assert hf_token_for("http://huggingface.co/x") is None  # never over plain http
    assert hf_token_for("https://huggingface.co.evil.example/x") is None
    assert hf_token_for("https://github.com/yuweihao/MM-Vet/releases/download/v1/mm-vet.zip") is None
    assert hf_token_for(hf, environ={}) is None

    data = payload(500)
    with FixtureServer({"/file": data}) as srv:
        srv.redirects["/hub"] = srv.url("/file")
        # The token goes only on the request it was built for; urllib drops it on the redirect.
        with urllib.request.urlopen(build_request(srv.url("/hub"), 0, "hf_secret_value"), timeout=10) as r:
            assert r.read() == data
        first, second = srv.requests
        assert first.headers["authorization"] == "Bearer hf_secret_value"
        assert "authorization" not in second.headers
        # pull() against a non-HF host never sends it, and never writes it anywhere.
        pull([DataSource("file", url=srv.url("/file"))], tmp_path, **FAST)
        assert "authorization" not in srv.requests[-1].headers
    assert all(b"hf_secret_value" not in p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())


def test_progress_bar_shows_bytes(tmp_path: Path) -> None:
    data = payload(30_000)
    out = io.StringIO()
    console = Console(file=out, width=120, force_terminal=False)
    with FixtureServer({"/p.bin": data}) as srv:
        pull([DataSource("p.bin", url=srv.url("/p.bin"))], tmp_path, progress=True, console=console, retry_wait=0.0)
    text = out.getvalue()
    assert "p.bin" in text and "30.0" in text and "kB" in text
