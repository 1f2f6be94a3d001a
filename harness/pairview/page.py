"""One self-contained HTML page: the viewer's script and style inline, the pairs as JSON data.

The data sits in a ``<script type="application/json">`` element that the browser never runs, with
``<``, ``>`` and ``&`` written as JSON escapes, so no text inside it can close the element or open a
tag; the viewer (viewer.js) puts every text into the page with ``textContent``. A Content-Security-Policy
lets only the viewer's own script run (by its hash) and images load from files and data URIs, so
even markup that got into the page some other way would stay inert.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from importlib import resources
from typing import Any

GENERATOR = "harness inspect"

_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="generator" content="{generator}">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
<header id="header"></header>
<div id="bar">
<div id="filters"></div>
<div id="pager"><button id="prev" type="button">previous</button><span id="page-of"></span><button id="next" type="button">next</button><span id="match-count"></span></div>
</div>
<main id="pairs"></main>
<noscript>This page shows its pairs with JavaScript; the same data is in the run's iter&lt;i&gt;/pairs.jsonl and audit.json.</noscript>
<script type="application/json" id="pairs-data">{data}</script>
<script>{script}</script>
</body>
</html>
"""


def _asset(name: str) -> str:
    return resources.files("harness.pairview").joinpath(name).read_text(encoding="utf-8")


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()


def embed_json(data: Any) -> str:
    """JSON that is safe inside a script element: no character of it can end the element or open a tag."""
    text = json.dumps(data, ensure_ascii=False, sort_keys=True)
    for raw, escaped in (
        ("&", "\\u0026"),
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(raw, escaped)
    return text


def render_page(data: dict[str, Any]) -> str:
    script, style = _asset("viewer.js"), _asset("viewer.css")
    csp = (
        f"default-src 'none'; script-src '{_sha256(script)}'; style-src '{_sha256(style)}'; img-src 'self' file: data:"
    )
    return _TEMPLATE.format(
        generator=GENERATOR,
        csp=csp,
        title=html.escape(data["title"]),
        style=style,
        data=embed_json(data),
        script=script,
    )


def is_ours(text: str) -> bool:
    """Whether an existing HTML file was written by this viewer (and may be replaced)."""
    return f'<meta name="generator" content="{GENERATOR}">' in text
