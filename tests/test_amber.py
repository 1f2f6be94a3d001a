"""AMBER adapter: the official scorer's algorithm on AMBER's real annotation files.

The real annotation files live in ../shared/data/amber (next to the repository); every test that
needs them skips when they are absent. NLTK data and the spaCy model cannot be installed here, so
the generative tests use stand-ins of the same shapes, each named where it is built:

* tokenizer: NLTK's own ``NLTKWordTokenizer`` (what ``nltk.word_tokenize`` runs per sentence)
  after a regex sentence split that replaces the punkt sentence model;
* tagger: a lexicon table replacing the averaged perceptron tagger (raises on unknown tokens);
* lemmatizer: a table replacing WordNet's ``morphy`` (lowercase forms only, as WordNet's index);
* similarity: a table replacing spaCy ``en_core_web_lg`` ``Doc.similarity`` (same word → 1.0,
  as spaCy's same-orth rule; listed pairs; everything else below the table's floor).

The scoring algorithm itself (mention filtering, slot crediting, counters, rounding) is the real one.
Expected numbers are worked out by hand from the official formulas in the comments.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path

import pytest
from nltk.tokenize.destructive import NLTKWordTokenizer

from benchmarks import amber as amber_module
from benchmarks.amber import AmberBenchmark
from benchmarks.amber.data import FILE_SHA256, load_amber_data
from benchmarks.amber.generative import score_description
from benchmarks.amber.nlp import ComposedNounExtractor, NltkNounExtractor
from benchmarks.amber.scoring import EVALUATION_DIMENSIONS, official_printout
from benchmarks.amber.similarity import SimilarityTable, build_similarity_table, cached_similarity_table
from benchmarks.common.yes_no import normalize_yes_no
from harness.errors import HarnessError
from harness.plugins import registry

AMBER_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "amber"
needs_amber = pytest.mark.skipif(
    not (AMBER_DIR / "data" / "annotations.json").is_file(), reason=f"AMBER annotation files not found at {AMBER_DIR}"
)

# --------------------------------------------------------------------------- stand-ins
# Replaces the averaged perceptron tagger: the tags it would give in these sentences.
TAGS = {
    "Trees": "NNS",
    "stand": "VBP",
    "behind": "IN",
    "a": "DT",
    "A": "DT",
    "dog": "NN",
    "on": "IN",
    "the": "DT",
    "The": "DT",
    "ground": "NN",
    ".": ".",
    "man": "NN",
    "sits": "VBZ",
    "couch": "NN",
    "near": "IN",
    "floor": "NN",
    ",": ",",
    "and": "CC",
    "cat": "NN",
    "watches": "VBZ",
    "clouds": "NNS",
    "There": "EX",
    "is": "VBZ",
    "light": "NN",
    "building": "NN",
    "Person": "NNP",
    "walks": "VBZ",
    "road": "NN",
    "green": "JJ",
}
# Replaces WordNet's morphy: inflected lowercase forms only (a capitalised "Trees" is unknown to it).
LEMMAS = {"clouds": "cloud", "trees": "tree", "dogs": "dog"}


def standin_tokenize(text: str) -> list[str]:
    """Punkt replaced by a split after . ! ? ; the per-sentence tokenizer is NLTK's real one."""
    word_tokenizer = NLTKWordTokenizer()
    return [tok for sent in re.split(r"(?<=[.!?])\s+", text.strip()) if sent for tok in word_tokenizer.tokenize(sent)]


def standin_tag(tokens: list[str]) -> list[tuple[str, str]]:
    return [(token, TAGS[token]) for token in tokens]


def standin_lemmatize(word: str) -> str:
    return LEMMAS.get(word, word)


STANDIN_EXTRACTOR = ComposedNounExtractor(standin_tokenize, standin_tag, standin_lemmatize)


def standin_similarity(words) -> SimilarityTable:
    """Replaces the spaCy en_core_web_lg table: identical words 1.0, a few listed pairs, the rest ≤ floor."""
    pairs = {("couch", "chair"): 0.86, ("cat", "dog"): 0.8, ("cloud", "sky"): 0.85}
    values = {(w, w): 1.0 for w in words}
    for (a, b), value in pairs.items():
        values[(a, b)] = values[(b, a)] = value
    return SimilarityTable(words=tuple(words), values=values, floor=0.5, source={"builder": "test stand-in"})


# Item 62: truth [dog, building, grass, ground, bench], hallu [sky, cloud, tree, person, house];
# relation: grass→[ground], ground→[floor], bench→[chair, armrest], tree→[forest, leave, bush],
# person→[people, individual, man, woman, boy, girl], house→[building].
RESPONSE_62 = (
    "Trees stand behind a dog on the ground. A man sits on a couch near the floor, and a cat "
    "watches the clouds. There is a light and a building."
)
# Item 1: truth [sky, forest, grass, person, lake, mountain, road], hallu [cloud, sun, bird, dog, flower].
RESPONSE_1 = "A Person walks on the road."


@pytest.fixture(scope="module")
def data():
    if not (AMBER_DIR / "data" / "annotations.json").is_file():
        pytest.skip(f"AMBER annotation files not found at {AMBER_DIR}")
    return load_amber_data(AMBER_DIR)


def make_bench(data, evaluation_type: str = "a", **kwargs) -> tuple[AmberBenchmark, dict]:
    bench = AmberBenchmark(
        evaluation_type, noun_extractor=STANDIN_EXTRACTOR, word_similarity=standin_similarity(data.vocabulary), **kwargs
    )
    items = bench.load(AMBER_DIR)
    return bench, {item.id: item for item in items}


# --------------------------------------------------------------------------- data files
@needs_amber
def test_official_files_match_published_checksums_and_counts(data):
    for rel, sha in FILE_SHA256.items():
        assert hashlib.sha256((AMBER_DIR / rel).read_bytes()).hexdigest() == sha, rel
    assert len(data.annotations) == 15220 and len(data.vocabulary) == 418
    assert {"TV", "e-book", "air-conditioning"} <= set(data.vocabulary)
    assert data.safe_words == ["orange", "snack", "line", "camera", "light", "shoe", "sign", "range", "individual"]
    assert data.counters["chair_num"] == 0.001 and data.counters["chair_score"] == 0 and len(data.counters) == 44


@needs_amber
@pytest.mark.parametrize(
    "etype,count,first,last",
    [
        ("a", 15220, "1", "15220"),
        ("g", 1004, "1", "1004"),
        ("d", 14216, "1005", "15220"),
        ("da", 7628, "1005", "8632"),
        ("de", 4924, "8633", "13556"),
        ("dr", 1664, "13557", "15220"),
    ],
)
def test_load_reads_the_official_query_file_of_each_evaluation_type(etype, count, first, last):
    items = AmberBenchmark(etype).load(AMBER_DIR)
    assert (len(items), items[0].id, items[-1].id) == (count, first, last)
    if etype in ("a", "g"):
        assert items[0].prompt == "Describe this image." and items[0].image == AMBER_DIR / "images" / "AMBER_1.jpg"
        assert items[0].meta["truth"][0] == "sky" and items[0].meta["hallu"][0] == "cloud"


@needs_amber
def test_data_sources_lay_out_files_as_the_shared_copy():
    from harness.data.pull import check

    report = check(AmberBenchmark().data_sources(), AMBER_DIR)
    status = {entry.path: entry.status for entry in report.entries}
    assert all(status[path] == "present" for path in FILE_SHA256), status
    assert status["images.zip"] == "manual-missing"


# --------------------------------------------------------------------------- generative
@needs_amber
def test_description_credits_first_exact_slot_keeps_case_and_marks_cog(data):
    annotation = data.annotation(62)
    result = score_description(
        RESPONSE_62,
        annotation["truth"],
        annotation["hallu"],
        relation=data.relation,
        vocabulary=set(data.vocabulary),
        safe_words=set(data.safe_words),
        extractor=STANDIN_EXTRACTOR,
        similarity=standin_similarity(data.vocabulary),
    )
    # "Trees" is not lowercased: its lemma "Trees" is not a vocabulary word, so it is no mention.
    assert result.mentions == ["dog", "ground", "man", "couch", "floor", "cat", "cloud", "light", "building"]
    # man: exact hallu slot only; cat: similarity to dog is 0.8, not > 0.8; cloud: hallu only.
    # light: global safe word (counted in the denominator, never hallucinated).
    assert result.hallucinated == [0, 0, 1, 0, 0, 1, 1, 0, 0]
    # ground → first exact slot is grass's associated word → credits grass; floor credits ground;
    # couch ~ chair (0.86) → chair is bench's associated word → credits bench.
    assert result.truth_flags == [1, 1, 1, 1, 1]
    # hallu [sky, cloud, tree, person, house]: man → person (associated word); cloud → cloud (exact)
    # and sky (first similar slot, 0.85, comes before cloud); building is a truth word, so house is not.
    assert result.hallu_flags == [1, 1, 0, 1, 0]

    only_ground = score_description(
        "The ground is green.",
        annotation["truth"],
        annotation["hallu"],
        relation=data.relation,
        vocabulary=set(data.vocabulary),
        safe_words=set(data.safe_words),
        extractor=STANDIN_EXTRACTOR,
        similarity=standin_similarity(data.vocabulary),
    )
    # "ground" is itself a truth object but credits grass (its association comes first); ground stays uncovered.
    assert only_ground.truth_flags == [0, 0, 1, 0, 0] and only_ground.hallucinated == [0]


@needs_amber
def test_generative_metrics_match_hand_computation(data):
    bench, items = make_bench(data, "g")
    report = bench.score(list(items.values()), {"62": RESPONSE_62, "1": RESPONSE_1})
    # item 62: 9 mentions, 3 hallucinated, truth 5/5, hallu 3/5; item 1: "Person" is not lowercased →
    # one mention (road, truth), 0 hallucinated, truth 1/7, hallu 0/5.
    # CHAIR = round(3 / (0.001+9+1) * 100, 1) = round(29.997, 1) = 30.0
    # Cover = round(6 / (0.001+5+7) * 100, 1) = round(49.996, 1) = 50.0
    # Hal   = round(100 - 1 / (0.001+1+1) * 100, 1) = round(50.025, 1) = 50.0
    # Cog   = round(3 / (0.001+5+5) * 100, 1) = 30.0
    assert report.metrics == {"CHAIR": 30.0, "Cover": 50.0, "Hal": 50.0, "Cog": 30.0}
    assert report.official == report.metrics
    by_id = {r["id"]: r for r in report.records}
    assert by_id["1"]["mentions"] == ["road"] and by_id["1"]["covered_truth"] == ["road"]
    assert by_id["62"]["hallucinated"] == ["man", "cat", "cloud"]
    assert by_id["62"]["covered_hallu"] == ["sky", "cloud", "person"] and by_id["62"]["hallucination_free"] is False


@needs_amber
def test_similarity_threshold_is_strict_and_configurable(data):
    # With the official flag --similarity_score 0.79, cat ~ dog (0.8) is now a near-synonym of a truth
    # object: 2 of 9 mentions hallucinated in item 62 → CHAIR = round(2 / 9.001 * 100, 1) = 22.2.
    bench, items = make_bench(data, "g", similarity_score=0.79)
    report = bench.score(list(items.values()), {"62": RESPONSE_62})
    assert report.metrics["CHAIR"] == 22.2
    assert bench.protocol().scorer_source.endswith("--similarity_score 0.79")


# --------------------------------------------------------------------------- discriminative
DISCRIMINATIVE = {
    # state: yes→"Yes" ✓, no→"No." ✗ (punctuation)
    "1005": "Yes",
    "1006": "No.",
    # number: yes→"yes" ✗ (case), no→"No" ✓
    "1013": "yes",
    "1014": "No",
    # action: yes→"No" ✗ (answered No), no→"No" ✓
    "1017": "No",
    "1018": "No",
    # existence (all truths "no"): ✓ ✓ ✗ ✗ ("no" is not "No")
    "8633": "No",
    "8634": "No",
    "8635": "Yes",
    "8636": "no",
    # relation: discriminative-relation yes→"Yes" ✓, relation no→"No" ✓, yes→" Yes" ✗
    "13557": "Yes",
    "13558": "No",
    "13559": " Yes",
}
EXPECTED_DISCRIMINATIVE = {
    # overall: correct 7/13.001 = 53.84; ans-No 5/6.001 = 83.32; truth-No 5/8.001 = 62.49;
    # F1 = 2·.833·.625/(.833+.625+.0001) = 71.41
    "Accuracy": 53.8,
    "Precision": 83.3,
    "Recall": 62.5,
    "F1": 71.4,
    # existence: 2/4.001 = 49.99 → 50.0; P = 2/2.001 = 99.95 → 100.0; R = 50.0;
    # F1 = 2·1·.5/(1.5+0.001) = 66.62 → 66.6 (with the ε 0.0001 of the other F1s it would be 66.7)
    "Existence/Accuracy": 50.0,
    "Existence/Precision": 100.0,
    "Existence/Recall": 50.0,
    "Existence/F1": 66.6,
    # attribute (as+an+aa): 3/6.003 = 49.98; P = 2/3.003 = 66.60; R = 2/3.003; F1 = 2·.666²/(1.332+.0001) = 66.595
    "Attribute/Accuracy": 50.0,
    "Attribute/Precision": 66.6,
    "Attribute/Recall": 66.6,
    "Attribute/F1": 66.6,
    # state: 1/2.001 = 49.98; no "No" answer: P = 0/0.001 = 0, R = 0/1.001 = 0, F1 = 0/(0+0+ε) = 0
    "State/Accuracy": 50.0,
    "State/Precision": 0.0,
    "State/Recall": 0.0,
    "State/F1": 0.0,
    # number: P = R = 1/1.001 = 99.90; F1 = 2·.999²/(1.998+.0001) = 99.895 → 99.9
    "Number/Accuracy": 50.0,
    "Number/Precision": 99.9,
    "Number/Recall": 99.9,
    "Number/F1": 99.9,
    # action: P = 1/2.001 = 49.98 → 50.0; R = 99.9; F1 = 2·.5·.999/(1.499+.0001) = 66.64
    "Action/Accuracy": 50.0,
    "Action/Precision": 50.0,
    "Action/Recall": 99.9,
    "Action/F1": 66.6,
    # relation: 2/3.001 = 66.64; P = R = 1/1.001 = 99.9
    "Relation/Accuracy": 66.6,
    "Relation/Precision": 99.9,
    "Relation/Recall": 99.9,
    "Relation/F1": 99.9,
}


@needs_amber
def test_discriminative_exact_yes_no_and_existence_epsilon(data):
    bench, items = make_bench(data, "d")
    report = bench.score(list(items.values()), dict(DISCRIMINATIVE))
    assert report.metrics == EXPECTED_DISCRIMINATIVE
    assert report.official == EXPECTED_DISCRIMINATIVE
    correct = {r["id"]: r["correct"] for r in report.records}
    assert [k for k, ok in correct.items() if ok] == ["1005", "1014", "1018", "8633", "8634", "13557", "13558"]
    text = official_printout(report.official, EVALUATION_DIMENSIONS["d"])
    assert text.startswith(
        "Descriminative Task:\nAccuracy:\t 53.8\nPrecision:\t 83.3\nRecall:\t\t 62.5\nF1:\t\t 71.4 \n\n"
    )
    assert "Exsitence:\nAccuracy:\t 50.0\n" in text and text.endswith(
        "Relation:\nAccuracy:\t 66.6\nPrecision:\t 99.9\nRecall:\t\t 99.9\nF1:\t\t 99.9\n"
    )


@needs_amber
def test_all_tasks_give_amber_score_and_subsets_score_alone(data):
    bench, items = make_bench(data, "a")
    predictions = {"62": RESPONSE_62, "1": RESPONSE_1, **DISCRIMINATIVE}
    report = bench.score(list(items.values()), predictions)
    assert report.metrics["CHAIR"] == 30.0 and report.metrics["F1"] == 71.4
    assert report.metrics["AMBER Score"] == pytest.approx((100 - 30.0 + 71.4) / 2)  # 70.7
    # Only generative ids present: the discriminative sections are left out of `metrics`,
    # while `official` shows what the official prints with -e a (0.0 from the 0.001 denominators).
    gen_only = bench.score(list(items.values()), {"62": RESPONSE_62, "1": RESPONSE_1})
    assert set(gen_only.metrics) == {"CHAIR", "Cover", "Hal", "Cog"}
    assert gen_only.official["Accuracy"] == 0.0 and gen_only.official["Existence/F1"] == 0.0
    # Only discriminative ids: no NLTK or similarity needed at all.
    plain = AmberBenchmark("a", noun_extractor=None, word_similarity=None)
    plain_items = plain.load(AMBER_DIR)
    disc_only = plain.score(plain_items, dict(DISCRIMINATIVE))
    assert disc_only.metrics == EXPECTED_DISCRIMINATIVE


@needs_amber
def test_normalize_answers_is_opt_in_and_official_stays_raw(data):
    bench, items = make_bench(data, "de", normalize_answers=True)
    report = bench.score(list(items.values()), {"8633": "No.", "8634": "no, there is none", "8635": "Yes"})
    assert report.metrics["Existence/Accuracy"] == round(2 / 3.001 * 100, 1) == 66.6
    assert report.official["Existence/Accuracy"] == 0.0
    assert normalize_yes_no("Yes, there is a dog.") == "Yes" and normalize_yes_no("Nothing") == "Nothing"
    assert any("normalize_answers" in d for d in bench.protocol().deviations)


# --------------------------------------------------------------------------- prediction files
@needs_amber
def test_prediction_file_round_trip(tmp_path, data):
    bench, items = make_bench(data, "dr")
    preds = {item_id: ("Yes" if int(item_id) % 2 else "No") for item_id in items}
    path = tmp_path / "pred.json"
    bench.write_predictions(path, list(items.values()), preds)
    rows = json.loads(path.read_text())
    assert rows[0] == {"id": 13557, "response": "Yes"} and len(rows) == 1664
    assert bench.read_predictions(path, list(items.values())) == preds


@needs_amber
@pytest.mark.parametrize(
    "content,needle",
    [
        ('[{"id": 13557, "response": "Yes"', "malformed JSON"),
        ('{"13557": "Yes"}', "JSON list"),
        ('[{"id": 99999, "response": "Yes"}]', "id 99999"),
        ('[{"id": 1, "response": "A dog."}]', "id 1 "),
        ('[{"id": 13557, "response": "Yes"}, {"id": 13557, "response": "No"}]', "id 13557 appears more"),
        ('[{"id": "13557", "response": "Yes"}]', "'13557'"),
        ('[{"id": 13557, "response": 1}]', "id 13557: 'response'"),
        ('[{"id": 13557, "response": "Yes"}]', "no response for id 13558"),
    ],
)
def test_malformed_prediction_files_name_file_and_id(tmp_path, content, needle, data):
    bench, items = make_bench(data, "dr")
    path = tmp_path / "bad_predictions.json"
    path.write_text(content)
    with pytest.raises(HarnessError) as err:
        bench.read_predictions(path, list(items.values()))
    assert str(path) in str(err.value) and needle in str(err.value)


# --------------------------------------------------------------------------- resources
def test_similarity_table_build_save_load_is_exact(tmp_path):
    class StandinDoc:
        """Replaces a spaCy Doc: same-orth → 1.0, zero vector → 0.0, else cosine (spaCy 3 rules)."""

        def __init__(self, text, vector):
            self.text, self.vector = text, vector

        def similarity(self, other):
            if self.text == other.text:
                return 1.0
            na = math.sqrt(sum(x * x for x in self.vector))
            nb = math.sqrt(sum(x * x for x in other.vector))
            if na == 0 or nb == 0:
                return 0.0
            return sum(x * y for x, y in zip(self.vector, other.vector)) / (na * nb)

    vectors = {"dog": (1.0, 0.1, 0.0), "cat": (0.9, 0.3, 0.0), "sky": (0.0, 0.0, 1.0), "rpoe": (0.0, 0.0, 0.0)}
    table = build_similarity_table(vectors, lambda w: StandinDoc(w, vectors[w]), floor=0.5)
    expected = StandinDoc("dog", vectors["dog"]).similarity(StandinDoc("cat", vectors["cat"]))
    assert table.values[("dog", "cat")] == expected and ("dog", "sky") not in table.values
    assert table.exceeds("rpoe", "rpoe", 0.8) and not table.exceeds("dog", "sky", 0.8)
    path = tmp_path / "cache" / "sim.json"
    table.save(path)
    # A cached table is reused as is: no spaCy is needed (nor installed here).
    again = cached_similarity_table(path, list(vectors))
    assert again.values == table.values and again.floor == 0.5
    assert again.exceeds("dog", "cat", expected - 1e-12) and not again.exceeds("dog", "cat", expected)
    with pytest.raises(HarnessError, match="cannot answer the threshold 0.3"):
        again.exceeds("dog", "cat", 0.3)
    with pytest.raises(HarnessError, match="'tree' is not in the table"):
        again.exceeds("tree", "dog", 0.8)


def test_missing_spacy_or_nltk_data_points_to_data_pull(tmp_path):
    try:
        import spacy  # noqa: F401

        has_spacy = True
    except ImportError:
        has_spacy = False
    if not has_spacy:
        with pytest.raises(HarnessError, match="harness data pull amber"):
            cached_similarity_table(tmp_path / "none.json", ["dog", "cat"], search_dir=tmp_path)
    import nltk

    try:
        nltk.data.find("tokenizers/punkt_tab/english/")
        pytest.skip("NLTK punkt data installed on this machine")
    except LookupError:
        pass
    with pytest.raises(HarnessError, match=r"punkt.*harness data pull amber"):
        NltkNounExtractor(nltk_data=tmp_path).nouns("A dog runs.")


@needs_amber
def test_generative_scoring_without_resources_fails_clearly(tmp_path, data):
    bench = AmberBenchmark("g", similarity_cache=tmp_path / "sim.json")
    items = bench.load(AMBER_DIR)
    try:
        import spacy  # noqa: F401

        pytest.skip("spaCy installed: the table would be built")
    except ImportError:
        pass
    with pytest.raises(HarnessError, match="harness data pull amber"):
        bench.score(items, {"1": RESPONSE_1})


# --------------------------------------------------------------------------- plugin and protocol
def test_registered_plugin_protocol_and_sources():
    reg = registry(entry_points=False, extra=[amber_module])
    assert reg.benchmark("amber") is AmberBenchmark
    bench = AmberBenchmark()
    card = bench.protocol()
    assert card.judge_model is None and card.generation["max_new_tokens"] == 1024
    assert card.data_version.startswith("junyangwang0410/AMBER@534babf6bbfc")
    sources = {s.path: s for s in bench.data_sources()}
    ann = sources["data/annotations.json"]
    assert ann.url == (
        "https://raw.githubusercontent.com/junyangwang0410/AMBER/"
        "534babf6bbfcce2e735c26289dedfb21cef3c939/data/annotations.json"
    )
    assert ann.sha256.startswith("db22a436c4836fbb")
    assert sources["images.zip"].manual and "images/AMBER_1004.jpg" in sources["images.zip"].note
    assert "nltk_data/corpora/wordnet.zip" in sources and sources["nltk_data/corpora/wordnet.zip"].unpack
    assert any(p.startswith("spacy/en_core_web_lg-") for p in sources)
    with pytest.raises(
        HarnessError,
        match=r"evaluation_type \(--set evaluation_type=\.\.\.\): 'x' unknown; "
        r"choose one of a, g, d, de, da, dr",
    ):
        AmberBenchmark("x")
    assert [(c.label, c.metric, c.lower_is_better, c.decimals, c.headline, c.order) for c in bench.columns] == [
        ("AMBER CHAIR", "CHAIR", True, 1, True, 40),
        ("Cover", "Cover", False, 1, False, 40),
        ("Hal", "Hal", True, 1, False, 40),
        ("Cog", "Cog", True, 1, False, 40),
        ("AMBER Accuracy", "Accuracy", False, 1, False, 40),
        ("F1", "F1", False, 1, True, 40),
    ]
    assert bench.card().columns[0]["label"] == "AMBER CHAIR"
