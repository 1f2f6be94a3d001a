"""`harness inspect`: the pair viewer of a run.

On a real default run (sena, one iteration of 16 images): the page lists every pair with its audit
verdict, its picture and the noised picture the model was fed; the run is only read. On hand-made runs:
bad input (not a run, an unfinished iteration, a run from an older version, an output among the run's
results) exits 2 naming the path and writes nothing; model-written HTML and script stay text. In a real
headless Chromium (skipped, saying why, where none is installed): the pictures load, the verdict filter
shows exactly the audit's counts, pages turn, and the injected markup never runs.
"""

from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness import atomic
from harness.audit import audit_iteration
from harness.cli import app
from harness.images.synthetic import make_scene

runner = CliRunner()
SOURCE = {"kind": "synthetic", "namespace": "train", "size": 100000}
XSS_SCRIPT = '<script>window.__xss = 1; alert("xss-script")</script>'
XSS_IMG = "<img src=x onerror=\"window.__xss = 2; alert('xss-img')\">"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(folder.rglob("*"))}


class _Page(HTMLParser):
    """Every start tag of a page with its attributes, and the text of each script element."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[tuple[dict, str]] = []
        self._in_script: dict | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._in_script = dict(attrs)
            self.scripts.append((self._in_script, ""))

    def handle_data(self, data):
        if self._in_script is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = None


def parse_page(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def page_data(path: Path) -> dict:
    (data,) = [text for attrs, text in parse_page(path).scripts if attrs.get("id") == "pairs-data"]
    return json.loads(data)


# -- runs --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def default_run(tmp_path_factory, tiny_path) -> Path:
    """A real default run, as small as it goes: sena, one iteration of 16 synthetic images, no benchmark."""
    runs = tmp_path_factory.mktemp("inspect-runs")
    args = ["evolve", "--method", "sena", "--iters", "1", "--images-per-iter", "16", "--eval", "none"]
    result = runner.invoke(app, [*args, "--runs-dir", str(runs)])
    assert result.exit_code == 0, result.output
    (run,) = [p for p in runs.iterdir() if (p / "manifest.json").is_file()]
    return run


@pytest.fixture(scope="module")
def default_page(default_run) -> tuple[Path, dict, dict]:
    """The default run's page, and the run's files before and after `harness inspect RUN`."""
    before = snapshot(default_run)
    result = runner.invoke(app, ["inspect", str(default_run)])
    assert result.exit_code == 0, result.output
    page = default_run / "inspect" / "iter1.html"
    assert str(page) in result.output
    return page, before, snapshot(default_run)


def _scene_pairs(count: int, checkpoint: Path) -> list[dict]:
    """Pairs about real synthetic scenes whose truth decides the verdict: correct, inverted, tied in turn."""
    pairs, index, scene_id = [], 0, 7000
    while len(pairs) < count:
        scene_id += 1
        scene = make_scene("train", scene_id)
        absent = next((k for k in ("circle", "square", "triangle") if k not in scene.objects), None)
        if absent is None:
            continue  # every kind is drawn: no hallucination to write
        index = len(pairs)
        truth = scene.caption()
        wrong = f"There is a purple {absent}."
        chosen, rejected = [(truth, wrong), (wrong, truth), (truth, truth.replace("There is", "I see"))][index % 3]
        prov = {
            "method": "handmade",
            "checkpoint": str(checkpoint),
            "seed": 0,
            "iteration": 1,
            "branch": "ab"[index % 2],
        }
        if index % 2 == 0:
            prov.update(noise_step=500, noise_seed=1000 + index)
        pairs.append(
            {
                "image": f"synthetic/train/{scene_id}",
                "image_path": None,
                "prompt": "Describe this image in one sentence.",
                "chosen": chosen,
                "rejected": rejected,
                "kind": "des",
                "provenance": prov,
            }
        )
    return pairs


def hand_run(folder: Path, pairs: list[dict], *, audit: bool = True, source: dict | None = SOURCE) -> Path:
    """A run folder of this version around hand-made pairs (iteration 1 synthesized and audited)."""
    manifest = {"run_id": folder.name, "method": "handmade", "config": {"method": "handmade"}}
    if source is not None:
        manifest["config"]["images"] = {"source": source}
    atomic.write_json(folder / "manifest.json", manifest)
    atomic.write_jsonl(folder / "iter1" / "pairs.jsonl", pairs)
    atomic.write_json(folder / "stages" / "synthesize-1.done", {"pairs": len(pairs)})
    if audit:
        audit_iteration(folder / "iter1", SOURCE)
    return folder


def xss_pairs(tiny_path: Path, count: int = 60) -> list[dict]:
    pairs = _scene_pairs(count, tiny_path)
    pairs[4].update(
        prompt=f"What is this? {XSS_SCRIPT}",
        chosen=f"{XSS_IMG} a square",
        rejected=f"</script>{XSS_SCRIPT}",
        kind="<b>des</b>",
    )
    pairs[4]["provenance"]["note"] = XSS_IMG
    pairs[4]["provenance"]["branch"] = XSS_SCRIPT
    return pairs


# -- the default run ---------------------------------------------------------------------------------


def test_the_page_lists_every_pair_with_its_audit_and_pictures(default_run, default_page):
    page, _, _ = default_page
    pairs = atomic.read_jsonl(default_run / "iter1" / "pairs.jsonl")
    marks = atomic.read_json(default_run / "iter1" / "audit.json")["marks"]
    data = page_data(page)
    assert pairs, "the default run kept no pair: nothing to show"
    assert len(data["pairs"]) == len(pairs)
    for n, (record, pair, mark) in enumerate(zip(data["pairs"], pairs, marks)):
        assert record["n"] == n
        assert (record["prompt"], record["chosen"], record["rejected"]) == (
            pair["prompt"],
            pair["chosen"],
            pair["rejected"],
        )
        assert record["facets"]["verdict"] == mark["verdict"]
        assert (page.parent / record["img"]).is_file()
        # the method noised the image for this pair: the page shows the noised picture beside the clean one
        assert pair["provenance"]["noise_step"] and (page.parent / record["noised"]).is_file()
    verdicts = next(f for f in data["facets"] if f["key"] == "verdict")["values"]
    assert sum(n for _, n in verdicts) == len(pairs)


def test_the_run_is_only_read(default_page):
    _, before, after = default_page
    assert {k: after[k] for k in before} == before  # no file of the run changed
    new = set(after) - set(before)
    assert new and all(k == ".inspect.lock" or k == "inspect" or k.startswith("inspect/") for k in new)


def test_the_noised_picture_is_the_image_the_model_was_fed(default_run, default_page, tiny_policy):
    import numpy as np
    import torch
    from PIL import Image

    from harness.backends.base import GenerationRequest
    from harness.backends.hf import HFBackend
    from harness.noise import add_noise

    page, _, _ = default_page
    record = page_data(page)["pairs"][0]
    pair = atomic.read_jsonl(default_run / "iter1" / "pairs.jsonl")[0]
    step, seed = pair["provenance"]["noise_step"], pair["provenance"]["noise_seed"]
    backend = HFBackend(tiny_policy, progress=False)
    request = GenerationRequest(
        make_scene("train", int(pair["image"].split("/")[-1])).render(), pair["prompt"], step, seed=seed
    )
    pixels = tiny_policy.processor(
        images=[backend._image(request)], text=[backend._prompt(request)], return_tensors="pt"
    )
    fed = add_noise(pixels["pixel_values"][0], step, seed)
    mean, std = torch.tensor(tiny_policy.image_mean).view(-1, 1, 1), torch.tensor(tiny_policy.image_std).view(-1, 1, 1)
    expected = ((fed * std + mean).clamp(0, 1).permute(1, 2, 0).numpy() * 255).astype(np.float32)
    shown = np.asarray(Image.open(page.parent / record["noised"]).convert("RGB"), dtype=np.float32)
    assert shown.shape == expected.shape
    assert np.abs(shown - expected).max() <= 1.0  # the same tensor, rounded to a grey level
    clean = ((pixels["pixel_values"][0] * std + mean).clamp(0, 1).permute(1, 2, 0).numpy() * 255).astype(np.float32)
    assert np.abs(shown - clean).mean() > 10  # and visibly noised


# -- bad input: a clear message naming the path, exit 2, nothing written -----------------------------


def _refused(args: list[str], folder: Path, *expected: str) -> None:
    before = snapshot(folder)
    result = runner.invoke(app, ["inspect", *args])
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    for part in expected:
        assert part in text, (part, text)
    assert snapshot(folder) == before


def test_a_path_that_is_not_a_run_is_refused(tmp_path):
    folder = tmp_path / "not-a-run"
    (folder / "iter1").mkdir(parents=True)
    _refused([str(folder)], tmp_path, str(folder), "not a run folder (no manifest.json)")
    _refused([str(tmp_path / "missing")], tmp_path, str(tmp_path / "missing"), "no such folder")


def test_an_unfinished_iteration_is_refused(tmp_path, tiny_path):
    run = hand_run(tmp_path / "run", _scene_pairs(3, tiny_path))
    _refused([str(run), "--iter", "2"], tmp_path, str(run / "iter2"), "no finished synthesis", "finished: 1")
    _refused([str(run), "--iter", "0"], tmp_path, str(run), "θ0")
    (run / "stages" / "synthesize-1.done").unlink()  # pairs on disk, synthesis not marked done
    _refused([str(run)], tmp_path, str(run), "no iteration has finished its synthesis")


def test_a_run_from_an_older_version_is_refused(tmp_path, tiny_path):
    unaudited = hand_run(tmp_path / "unaudited", _scene_pairs(3, tiny_path), audit=False)
    _refused([str(unaudited)], tmp_path, str(unaudited / "iter1" / "audit.json"), f"harness audit {unaudited}")
    no_source = hand_run(tmp_path / "no-source", _scene_pairs(3, tiny_path), source=None)
    _refused([str(no_source)], tmp_path, str(no_source), "older version", "no image source")
    old_pairs = [{"img": p["image"], "question": p["prompt"], "good": p["chosen"]} for p in _scene_pairs(2, tiny_path)]
    old = hand_run(tmp_path / "old-pairs", _scene_pairs(2, tiny_path))
    atomic.write_jsonl(old / "iter1" / "pairs.jsonl", old_pairs)
    _refused([str(old)], tmp_path, str(old / "iter1" / "pairs.jsonl"), "pair 1", "older version")
    stale = hand_run(tmp_path / "stale", _scene_pairs(3, tiny_path))
    atomic.write_jsonl(stale / "iter1" / "pairs.jsonl", _scene_pairs(4, tiny_path))
    _refused([str(stale)], tmp_path, str(stale / "iter1" / "audit.json"), "audits 3 pairs but pairs.jsonl holds 4")


def test_an_output_among_the_runs_results_or_over_foreign_files_is_refused(tmp_path, tiny_path):
    run = hand_run(tmp_path / "run", _scene_pairs(3, tiny_path))
    _refused([str(run), "--out", str(run)], tmp_path, f"--out {run}", "inside the run folder")
    _refused([str(run), "--out", str(run / "iter1")], tmp_path, f"--out {run / 'iter1'}", "inside the run folder")
    elsewhere = tmp_path / "pages"
    elsewhere.mkdir()
    (elsewhere / "iter1.html").write_text("<p>my own notes</p>")
    _refused(
        [str(run), "--out", str(elsewhere)], tmp_path, str(elsewhere / "iter1.html"), "not written by harness inspect"
    )


def test_out_elsewhere_writes_nothing_into_the_run_and_replaces_its_own_pages(tmp_path, tiny_path):
    run = hand_run(tmp_path / "run", _scene_pairs(6, tiny_path))
    before = snapshot(run)
    out = tmp_path / "pages"
    for _ in range(2):  # a second inspect replaces what the first wrote
        result = runner.invoke(app, ["inspect", str(run), "--out", str(out)])
        assert result.exit_code == 0, result.output
    assert snapshot(run) == before
    assert sorted(p.name for p in out.iterdir()) == ["iter1.files", "iter1.html"]
    data = page_data(out / "iter1.html")
    assert [r["facets"]["verdict"] for r in data["pairs"]] == ["correct", "inverted", "tied"] * 2
    assert [r["noised"] is not None for r in data["pairs"]] == [True, False] * 3
    assert data["header"]["audit"]["precision"] == round(100 * 2 / 6, 1)


# -- model-written markup is text --------------------------------------------------------------------


def test_model_written_markup_is_inert_in_the_html(tmp_path, tiny_path):
    run = hand_run(tmp_path / "run", xss_pairs(tiny_path, count=6))
    result = runner.invoke(app, ["inspect", str(run)])
    assert result.exit_code == 0, result.output
    page_file = run / "inspect" / "iter1.html"
    raw = page_file.read_text(encoding="utf-8")
    page = parse_page(page_file)
    assert [attrs.get("type") for attrs, _ in page.scripts] == ["application/json", None]  # the data, the viewer
    assert not [(tag, a) for tag, attrs in page.tags for a in attrs if a.lower().startswith("on")]
    assert "img" not in {tag for tag, _ in page.tags}  # pictures are made by the viewer, never taken from data
    assert "<script>window.__xss" not in raw and "<img src=x" not in raw and "</script><script>" not in raw
    pair = page_data(page_file)["pairs"][4]  # the data keeps the text exactly, for the viewer to show as text
    assert pair["prompt"].endswith(XSS_SCRIPT) and pair["chosen"].startswith(XSS_IMG)
    assert pair["rejected"] == f"</script>{XSS_SCRIPT}" and ["note", XSS_IMG] in pair["details"]


# -- in a real browser -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).is_file():
        pytest.skip("no Chromium installed (Debian: apt-get install chromium chromium-driver): browser tests skipped")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the Playwright driver (dev extra) is not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        yield b
        b.close()


def _open(browser, page_file: Path):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    events = {"dialogs": [], "errors": []}
    page.on("dialog", lambda d: (events["dialogs"].append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: events["errors"].append(str(e)))
    page.goto(page_file.resolve().as_uri())
    page.wait_for_selector("body[data-ready='1']", timeout=20000)
    return page, events


def test_in_a_browser_the_pictures_load_and_the_verdict_filter_shows_the_audits_counts(
    browser, default_run, default_page
):
    page_file, _, _ = default_page
    marks = atomic.read_json(default_run / "iter1" / "audit.json")["marks"]
    page, events = _open(browser, page_file)
    page.select_option("#page-size", "500")
    assert page.locator("article.pair").count() == len(marks)
    widths = page.evaluate(
        "Promise.all(Array.from(document.images).map(i => i.decode().then(() => i.naturalWidth, () => 0)))"
    )
    assert len(widths) == 2 * len(marks) and all(w > 0 for w in widths)  # each pair: its image and the noised one
    for verdict in ("inverted", "correct", "tied"):
        page.select_option("select[data-facet='verdict']", verdict)
        expected = sum(m.get("verdict") == verdict for m in marks)
        assert page.get_attribute("#match-count", "data-count") == str(expected)
        assert page.locator("article.pair").count() == expected
        assert set(page.locator("article.pair").evaluate_all("els => els.map(e => e.dataset.verdict)")) <= {verdict}
    assert events == {"dialogs": [], "errors": []}


def test_in_a_browser_injected_markup_never_runs_and_pages_turn(browser, tmp_path, tiny_path):
    run = hand_run(tmp_path / "run", xss_pairs(tiny_path, count=60))
    assert runner.invoke(app, ["inspect", str(run)]).exit_code == 0
    page, events = _open(browser, run / "inspect" / "iter1.html")
    assert page.text_content("#page-of") == "page 1 of 3"
    card = page.locator("article.pair[data-pair='4']")
    assert XSS_SCRIPT in card.inner_text() and XSS_IMG in card.inner_text()  # shown as text
    page.click("#next")
    assert page.locator("article.pair").first.get_attribute("data-pair") == "25"
    page.select_option("select[data-facet='kind']", "<b>des</b>")
    assert page.get_attribute("#match-count", "data-count") == "1"
    injected = page.evaluate(
        """() => ({
            xss: window.__xss === undefined ? null : window.__xss,
            scripts: document.scripts.length,
            bold: document.querySelectorAll('#pairs b, #filters b').length,
            stray: Array.from(document.images).filter(i => !i.src.endsWith('.png')).length,
        })"""
    )
    assert injected == {"xss": None, "scripts": 2, "bold": 0, "stray": 0}
    assert events == {"dialogs": [], "errors": []}
