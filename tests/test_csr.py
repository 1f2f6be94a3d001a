"""CSR: the release's pruning and rank-based reward by hand, the paper variant, the search on the tiny model
(kinds, counts, determinism), the CLIP requirement, bad options, and two iterations on the tiny model."""

from __future__ import annotations

import dataclasses
import json

import pytest

import methods.csr.method as csr
from harness.clip_score import TextScore
from harness.errors import HarnessError
from harness.method import build_config
from harness.plugins import registry
from methods.csr.search import Node, prune
from tests.method_fakes import ScriptedBackend, evolve_small, synthetic_context, synthetic_refs


class FakeScorer:
    name = "fake"

    def __init__(self, table):
        self.table = table

    def score(self, images, texts, *, image_index=None, aggregate="mean"):
        return [TextScore(2.5 * self.table.get(t, 0.2), [self.table.get(t, 0.2)]) for t in texts]


def test_registered_with_table4_numbers():
    assert registry().method("csr") is csr.Csr
    assert csr.Csr.reported[0].values["amber/CHAIR"] == 3.8


def test_pruning_keeps_best_one_and_worst_two():
    nodes = [Node(i, 0, 1, cum=c) for i, c in enumerate([-1.0, -5.0, -2.0, -4.0, -3.0, -0.5])]
    kept = prune(nodes, 5, key=lambda n: n.cum)
    assert [n.cum for n in kept] == [-0.5, -4.0, -5.0]
    assert [n.cum for n in prune(nodes[:4], 5, key=lambda n: n.cum)] == [-1.0, -2.0, -4.0, -5.0]


def test_rank_reward_by_hand():
    # root → a, b; a → a1 (final), a2 (final); b final
    tree = [
        Node(0, None, 0, children=[1, 2]),
        Node(1, 0, 1, lm=-0.1, clip=20.0, children=[3, 4]),
        Node(2, 0, 1, lm=-0.5, clip=25.0, final=True),
        Node(3, 1, 2, lm=-0.2, clip=22.0, final=True),
        Node(4, 1, 2, lm=-0.3, clip=30.0, final=True),
    ]
    method = csr.Csr()
    paths = method._complete_paths(tree)
    assert sorted(paths) == [[1, 3], [1, 4], [2]]
    values = dict(zip(map(tuple, paths), method._path_values(tree, paths)))
    v = {1: 0.1 * 0.5 + 0.9 * 1.0, 2: 0.1 * 1.0 + 0.9 * 0.5, 3: 0.1 * 0.5 + 0.9 * 1.0, 4: 0.1 * 1.0 + 0.9 * 0.5}
    assert values[(1, 3)] == pytest.approx((v[1] + v[3]) / 3)
    assert values[(1, 4)] == pytest.approx((v[1] + v[4]) / 3)
    assert values[(2,)] == pytest.approx(v[2] / 2)
    paper = csr.Csr(build_config(csr.Csr, variant="paper"))
    raw = dict(zip(map(tuple, paths), paper._path_values(tree, paths)))
    assert raw[(2,)] == pytest.approx((0.1 * -0.5 + 0.9 * 0.25) / 2)
    tree[3].removed = True
    assert sorted(method._complete_paths(tree)) == [[1, 4], [2]]


def test_cleaning_rules():
    assert csr.bad_sentence("Hi.") == "short"
    assert csr.bad_sentence("Привет, мир.") == "script"
    assert csr.bad_sentence("the the the the the the end") == "repetition"
    assert csr.bad_sentence("aaaaaaaaaaaa") == "repetition"
    assert csr.bad_sentence("There is a red circle.") is None


def test_questions_are_csrs_eleven():
    assert len(csr.QUESTIONS) == 11 and csr.QUESTIONS[0] == "What is this photo about'?"


def test_search_on_the_tiny_model_is_deterministic(tiny_policy):
    from harness.backends.hf import HFBackend

    cfg = dataclasses.replace(csr.CsrConfig(), max_new_tokens=10, max_sentences=3)
    refs = synthetic_refs(3)
    runs = []
    for _ in range(2):
        method = csr.Csr(cfg, scorer=FakeScorer({}))
        runs.append(method.synthesize(HFBackend(tiny_policy, progress=False), refs, synthetic_context(seed=2)))
    a, b = runs
    assert [p.to_dict() for p in a.pairs] == [p.to_dict() for p in b.pairs]
    c = a.counts
    assert c["images"] == 3 and c["distinct_paths"] == len(a.pairs) <= c["with_complete_path"] <= 3
    assert a.stats["steps"]["search"]["generation_calls"] == a.stats["max_depth"] <= 3
    for p in a.pairs:
        assert p.kind == "des" and p.chosen != p.rejected and p.prompt in csr.QUESTIONS
        assert p.provenance["value_chosen"] <= p.provenance["value_rejected"]


def test_expansion_gives_distinct_sentences(tiny_policy):
    from harness.images.synthetic import make_scene
    from methods.csr.search import expand

    images = [make_scene("csr-test", i).render() for i in range(2)]
    out = expand(
        tiny_policy, images, ["Describe the following image."] * 2, [[], []], groups=5, penalty=3.0, max_new_tokens=10
    )
    assert len(out) == 2 and all(len(children) == 5 for children in out)
    plain = expand(
        tiny_policy, images, ["Describe the following image."] * 2, [[], []], groups=5, penalty=0.0, max_new_tokens=10
    )
    assert all(len({tuple(c.tokens) for c in children}) == 1 for children in plain)  # no penalty: 5 × greedy
    assert any(len({tuple(c.tokens) for c in children}) > 1 for children in out)  # the penalty diversifies
    assert all(c.score <= 0 for children in plain for c in children)


def test_clip_is_required_off_the_tiny_model():
    backend = ScriptedBackend(lambda r, i: "x")
    backend.policy = type("P", (), {"model": type("M", (), {"generate": None})()})()
    ctx = dataclasses.replace(synthetic_context(), checkpoint="ckpt/llava-1.5-7b-hf", base_model="ckpt/llava")
    with pytest.raises(HarnessError, match="clip_model="):
        csr.Csr().synthesize(backend, synthetic_refs(1), ctx)
    bad = csr.Csr(build_config(csr.Csr, ["clip_model=/nonexistent/clip"]))
    with pytest.raises(HarnessError, match="csr option clip_model=/nonexistent/clip"):
        bad.synthesize(backend, synthetic_refs(1), ctx)
    with pytest.raises(HarnessError, match="'hf' backend"):
        csr.Csr().synthesize(ScriptedBackend(lambda r, i: "x"), synthetic_refs(1), ctx)


@pytest.mark.parametrize(
    "override, needle",
    [
        ("reward=mean", "released_ranks, paper_raw"),
        ("clip_alpha=2", "0-1"),
        ("groups=0", "≥ 1"),
        ("objective=ipo", "dpo, mdpo"),
        ("beam=3", "accepted: "),
    ],
)
def test_bad_options(override, needle):
    with pytest.raises(HarnessError, match=needle):
        build_config(csr.Csr, [override])


def test_two_iterations_on_the_tiny_model(tiny_path, tmp_path):
    run_dir = tmp_path / "csr"
    evolve_small(run_dir, "csr", 2, ["max_new_tokens=10", "max_sentences=3"])
    for i in (1, 2):
        it = run_dir / f"iter{i}"
        stats = json.loads((it / "stats.json").read_text())
        assert stats["counts"]["images"] == 4 and stats["stats"]["steps"]["clip_score"]["clip_model"] == "tiny"
        train = json.loads((it / "train.json").read_text())
        assert (it / "checkpoint" / "config.json").is_file()
        if stats["pairs"]:
            assert train["steps"] >= 1 and train["objective"]["name"] == "csr"
