"""Fetch one URL into a ``.part`` file: resume with HTTP Range, retry with backoff, hash as it goes.

Standard library only (``urllib``). A Hugging Face token is read from ``HF_TOKEN`` at call time and
sent only to ``https://huggingface.co`` (and its subdomains), as an *unredirected* header so that it
never follows a redirect to another host (the CDN). It is never logged or written.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from harness.errors import HarnessError

CHUNK = 1 << 20
USER_AGENT = "harness-data-pull/0.1 (+urllib)"

# start(total_bytes_or_None, bytes_already_there) and advance(n): how a progress bar follows a fetch.
StartFn = Callable[[int | None, int], None]
AdvanceFn = Callable[[int], None]


class Hashes:
    """SHA-256 always, MD5 when asked for; fed as bytes arrive."""

    def __init__(self, md5: bool) -> None:
        self.sha256 = hashlib.sha256()
        self.md5 = hashlib.md5(usedforsecurity=False) if md5 else None

    def update(self, data: bytes) -> None:
        self.sha256.update(data)
        if self.md5 is not None:
            self.md5.update(data)

    def digests(self) -> dict[str, str]:
        out = {"sha256": self.sha256.hexdigest()}
        if self.md5 is not None:
            out["md5"] = self.md5.hexdigest()
        return out


def hash_file(path: Path, *, md5: bool = False, hashes: Hashes | None = None) -> Hashes:
    """Hash a file on disk in chunks (into ``hashes`` when given, to continue it afterwards)."""
    hashes = hashes or Hashes(md5)
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            hashes.update(chunk)
    return hashes


@dataclass
class FetchResult:
    """What one fetch did. ``resumed_from``: bytes of an earlier ``.part`` kept (0 = from scratch)."""

    size: int
    digests: dict[str, str]
    resumed_from: int
    range_ignored: bool  # a Range request was answered with the whole file (200)
    attempts: int


class _Retryable(Exception):
    """A failure worth another attempt (connection trouble, 5xx, 429, body cut short)."""


def hf_token_for(url: str, environ: Mapping[str, str] | None = None) -> str | None:
    """``HF_TOKEN`` from the environment, but only for https URLs on huggingface.co."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or not (host == "huggingface.co" or host.endswith(".huggingface.co")):
        return None
    env = os.environ if environ is None else environ
    token = env.get("HF_TOKEN", "").strip()
    return token or None


def build_request(url: str, offset: int, token: str | None) -> urllib.request.Request:
    """A GET for ``url`` from byte ``offset``; the token (if any) is not carried over redirects."""
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
    if offset:
        req.add_header("Range", f"bytes={offset}-")
    if token:
        # urllib copies ordinary headers onto a redirected request, whatever the host; unredirected
        # ones stay on this request only.
        req.add_unredirected_header("Authorization", f"Bearer {token}")
    return req


_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)
_UNSATISFIED_RANGE = re.compile(r"bytes\s+\*/(\d+)", re.IGNORECASE)


def fetch(
    url: str,
    part: Path,
    *,
    name: str,
    md5: bool,
    retries: int,
    retry_wait: float,
    timeout: float,
    start: StartFn,
    advance: AdvanceFn,
) -> FetchResult:
    """Download ``url`` into ``part``, resuming from what ``part`` already holds.

    Connection errors, 5xx/429 and bodies cut short are retried ``retries`` times with exponential
    backoff (``retry_wait`` · 2^k seconds, capped at 60 s); the ``.part`` file is kept, so a later
    call resumes. Other HTTP errors raise HarnessError at once. ``name`` labels errors.
    """
    token = hf_token_for(url)
    range_ignored = False
    last_error = ""
    attempt = 0
    stale_dropped = False
    while attempt <= retries:
        offset = part.stat().st_size if part.exists() else 0
        try:
            result = _attempt(
                url, part, offset, token, md5=md5, timeout=timeout, start=start, advance=advance, name=name
            )
        except _Retryable as exc:
            last_error = str(exc)
            attempt += 1
            if attempt <= retries:
                time.sleep(min(retry_wait * 2 ** (attempt - 1), 60.0))
            continue
        if result is None:  # 416 on a stale .part: it was dropped; start over once, at no cost
            if stale_dropped:
                attempt += 1
            stale_dropped = True
            continue
        hashes, size, resumed_from, ignored = result
        range_ignored = range_ignored or ignored
        return FetchResult(
            size=size,
            digests=hashes.digests(),
            resumed_from=resumed_from,
            range_ignored=range_ignored,
            attempts=attempt + 1,
        )
    kept = part.stat().st_size if part.exists() else 0
    raise HarnessError(
        f"{name}: download from {url} failed after {retries + 1} attempt(s): {last_error}. "
        f"{kept} bytes are kept in {part}; run the pull again to resume."
    )


def _attempt(
    url: str,
    part: Path,
    offset: int,
    token: str | None,
    *,
    md5: bool,
    timeout: float,
    start: StartFn,
    advance: AdvanceFn,
    name: str,
) -> tuple[Hashes, int, int, bool] | None:
    req = build_request(url, offset, token)
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        with exc:
            if exc.code == 416 and offset:
                return _range_not_satisfiable(exc, part, offset, md5)
            if exc.code >= 500 or exc.code == 429:
                raise _Retryable(f"HTTP {exc.code} {exc.reason}") from None
            hint = ""
            if exc.code in (401, 403) and urlsplit(url).hostname and "huggingface.co" in urlsplit(url).hostname:
                hint = (
                    " (a gated or private Hugging Face dataset: accept its terms on the website and "
                    "set HF_TOKEN in the environment)"
                )
            raise HarnessError(f"{name}: {url} answered HTTP {exc.code} {exc.reason}{hint}") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        raise _Retryable(f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}") from None

    with resp:
        status = resp.status
        length_header = resp.headers.get("Content-Length")
        body_length = int(length_header) if length_header and length_header.isdigit() else None
        range_ignored = False
        if status == 206 and offset:
            m = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
            if not m or int(m.group(1)) != offset:
                raise _Retryable(
                    f"unexpected Content-Range {resp.headers.get('Content-Range')!r} for a resume at byte {offset}"
                )
            hashes = hash_file(part, md5=md5)  # the bytes already there count in the checksum
            mode = "ab"
        elif status in (200, 206):
            range_ignored = bool(offset)  # the server sent the whole file: start the .part over
            offset = 0
            hashes = Hashes(md5)
            mode = "wb"
        else:
            raise _Retryable(f"unexpected HTTP status {status}")
        start(None if body_length is None else offset + body_length, offset)
        received = 0
        part.parent.mkdir(parents=True, exist_ok=True)
        try:
            with part.open(mode) as fh:
                while True:
                    chunk = resp.read(CHUNK)
                    if not chunk:
                        break
                    fh.write(chunk)
                    hashes.update(chunk)
                    received += len(chunk)
                    advance(len(chunk))
                fh.flush()
                os.fsync(fh.fileno())
        except (http.client.HTTPException, OSError) as exc:
            raise _Retryable(f"connection lost after {offset + received} bytes ({type(exc).__name__})") from None
        if body_length is not None and received != body_length:
            # http.client returns b"" when the peer closes early; the length tells us it did.
            raise _Retryable(f"connection closed after {offset + received} of {offset + body_length} bytes")
    return hashes, offset + received, offset, range_ignored


def _range_not_satisfiable(
    exc: urllib.error.HTTPError, part: Path, offset: int, md5: bool
) -> tuple[Hashes, int, int, bool] | None:
    """416 on resume: the .part may already be whole; otherwise it is stale and is dropped."""
    m = _UNSATISFIED_RANGE.match(exc.headers.get("Content-Range", "") if exc.headers else "")
    if m and int(m.group(1)) == offset:
        return hash_file(part, md5=md5), offset, offset, False
    part.unlink(missing_ok=True)
    return None
