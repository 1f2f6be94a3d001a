"""Benchmark data downloads for ``harness data pull/check``: the pull logic with resume and
checksums (pull.py), HTTP fetching (http.py) and archive unpacking (unpack.py)."""
