"""CHAIR: the vocabulary rules, the three normalisation variants, the COCO ground truth and the totals.

NLTK's data (Punkt, the perceptron tagger, WordNet) cannot be installed here, so the caption tests use
stand-ins of the same shapes, each named where it is built: NLTK's own ``NLTKWordTokenizer`` after a
regex sentence split (replaces Punkt), a tag table (replaces ``nltk.pos_tag``), a lemma table (replaces
``WordNetLemmatizer``; "men" stays "men" as WordNet keeps it, spec'd in the CHAIR comparison) and a
singular table (replaces ``pattern.en.singularize``). The rules applied to the tokens (two-word merge,
toilet/seat, synonym lookup, ground truth, totals) are the real code; expected values are worked out by
hand in the comments. Tests needing the real data files in ../shared skip without them; the tests that
need real NLTK data skip with the reason when it is missing.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from nltk.tokenize.destructive import NLTKWordTokenizer

from benchmarks.chair import ChairBenchmark, opera_printout
from benchmarks.chair.data import IMAGE_LIST, SYNONYMS, SYNONYMS_SHA256
from benchmarks.common.caption_normalisers import Normaliser, nltk_normaliser, wordnet_pos
from benchmarks.common.caption_scoring import score_caption, totals
from benchmarks.common.coco_truth import ground_truth
from benchmarks.common.coco_vocab import CocoVocabulary
from benchmarks.common.data_sources import SYNONYMS_REFINE, SYNONYMS_REFINE_SHA256
from harness.errors import HarnessError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "chair"
needs_synonyms = pytest.mark.skipif(
    not (SHARED / "chair" / "synonyms.txt").is_file(), reason=f"CHAIR synonym list not found at {SHARED / 'chair'}"
)

# Lines of CHAIR's synonyms.txt (LisaAnne/Hallucination@6e4d33c4bedf), the person and dog lines shortened.
# The double space before "motor bike" and "cheesecake" and the capital "iPhone" are kept, as in the file.
ORIGINAL_EXCERPT = "\n".join(
    [
        "person, girl, boy, man, woman, child, people, baby, passenger",
        "motorcycle, scooter,  motor bike, motor cycle, motorbike, scooter, moped",
        "train, locomotive, tramway, caboose",
        "dog, puppy, beagle, pup",
        "elephant",
        "tie, bow, bow tie",
        "skis, ski",
        "wine glass",
        "hot dog",
        "cake,  cheesecake, cupcake, shortcake, coffeecake, pancake",
        "chair, seat, stool",
        "dining table, table, desk",
        "toilet, urinal, commode, toilet, lavatory, potty",
        "cell phone, mobile phone, phone, cellphone, telephone, phon, smartphone, iPhone",
        "oven, stovetop, stove, stove top oven",
        "teddy bear, teddybear",
    ]
)
# The same lines as RLAIF-V's synonyms_refine.txt has them (brother/pedestrian, coffee table, fixed spaces).
REFINED_EXCERPT = "\n".join(
    [
        "person, girl, boy, man, woman, child, people, baby, passenger, brother, pedestrian",
        "motorcycle, scooter, motor bike, motor cycle, motorbike, scooter, moped",
        "train, locomotive, tramway, caboose",
        "dog, puppy, beagle, pup",
        "elephant",
        "tie, bow, bow tie",
        "skis, ski",
        "wine glass",
        "hot dog",
        "cake, cheesecake, cupcake, shortcake, coffeecake, pancake",
        "chair, seat, stool",
        "dining table, table, desk, coffee table",
        "toilet, urinal, commode, toilet, lavatory, potty",
        "cell phone, mobile phone, phone, cellphone, telephone, phon, smartphone, iPhone",
        "oven, stovetop, stove, stove top oven",
        "teddy bear, teddybear",
    ]
)

# --------------------------------------------------------------------------- stand-ins
# Replaces nltk.pos_tag on the lower-cased tokens used below: listed words get their tag, punctuation ".",
# anything else "NN".
TAGS = {
    "a": "DT",
    "an": "DT",
    "the": "DT",
    "his": "PRP$",
    "and": "CC",
    "two": "CD",
    "at": "IN",
    "near": "IN",
    "on": "IN",
    "of": "IN",
    "to": "TO",
    "with": "IN",
    "next": "JJ",
    "sit": "VBP",
    "stands": "VBZ",
    "eat": "VBP",
    "tied": "VBN",
    "skiing": "VBG",
    "seated": "VBN",
    "hot": "JJ",
    "clean": "JJ",
    "dogs": "NNS",
    "chairs": "NNS",
    "tracks": "NNS",
    "men": "NNS",
    "people": "NNS",
    "glasses": "NNS",
    "dining": "NN",
}
# Replaces WordNetLemmatizer.lemmatize(word, pos): the forms WordNet changes in these captions; "men" is
# absent on purpose (WordNet has the lemma "men" and keeps it).
LEMMAS = {
    ("dogs", "n"): "dog",
    ("chairs", "n"): "chair",
    ("tracks", "n"): "track",
    ("glasses", "n"): "glass",
    ("stands", "v"): "stand",
    ("tied", "v"): "tie",
    ("skiing", "v"): "ski",
    ("seated", "v"): "seat",
}
# Replaces pattern.en.singularize (what pattern does to these tokens; "glass" → "glas" is pattern's).
SINGULARS = {
    "dogs": "dog",
    "men": "man",
    "chairs": "chair",
    "tracks": "track",
    "glass": "glas",
    "glasses": "glass",
    "stands": "stand",
}


def standin_tokenize(text: str) -> list[str]:
    tokenizer = NLTKWordTokenizer()
    return [tok for sent in re.split(r"(?<=[.!?])\s+", text.strip()) if sent for tok in tokenizer.tokenize(sent)]


def standin_tag(tokens: list[str]) -> list[tuple[str, str]]:
    return [(t, TAGS.get(t, "." if not t.isalnum() else "NN")) for t in tokens]


def standin_lemmatize(word: str, pos: str) -> str:
    return LEMMAS.get((word, pos), word)


def normaliser(variant: str) -> Normaliser:
    if variant == "original":
        return Normaliser("original", standin_tokenize, singularize=lambda w: SINGULARS.get(w, w))
    return Normaliser(variant, standin_tokenize, tag=standin_tag, lemmatize=standin_lemmatize)


ORIGINAL = CocoVocabulary.original(ORIGINAL_EXCERPT)
REFINED = CocoVocabulary.refined(REFINED_EXCERPT)


def mentions(text: str, variant: str = "opera", vocab: CocoVocabulary = ORIGINAL) -> list[tuple[str, str]]:
    m = vocab.mentions(normaliser(variant)(text))
    return list(zip(m.words, m.classes))


# --------------------------------------------------------------------------- vocabulary rules


def test_synonyms_plurals_and_two_word_objects():
    # "dogs" → dog; "puppy" is a dog synonym; "table" → dining table ("dining table" is not a two-word unit
    # of the original, so "dining" is dropped and "table" matches); "hot dog" is one unit, not a dog.
    assert mentions("A man and two dogs sit at a dining table near a hot dog stand.") == [
        ("man", "person"),
        ("dog", "dog"),
        ("table", "dining table"),
        ("hot dog", "hot dog"),
    ]
    assert mentions("A puppy and a teddy bear.") == [("puppy", "dog"), ("teddy bear", "teddy bear")]
    # Every mention is kept: two dogs named twice are two mentions.
    assert mentions("A dog and the dog.") == [("dog", "dog"), ("dog", "dog")]


def test_special_cases_of_the_original_rules():
    # baby/adult X → X, passenger train → train, toilet seat → toilet, bow tie → tie, train track dropped;
    # "seat" is dropped everywhere once toilet and seat both occur.
    caption = (
        "A toilet seat and the seat of the toilet, a bow tie, a passenger train on train tracks, and a teddy bear."
    )
    got = ORIGINAL.mentions(normaliser("opera")(caption))
    assert list(zip(got.words, got.classes)) == [
        ("toilet", "toilet"),
        ("toilet", "toilet"),
        ("tie", "tie"),
        ("train", "train"),
        ("teddy bear", "teddy bear"),
    ]
    assert len(got.merged) == 21  # Len counts merged tokens (punctuation included) before the seat rule
    assert mentions("A baby elephant and an adult dog.") == [("elephant", "elephant"), ("dog", "dog")]
    assert mentions("A baby.") == [("baby", "person")]  # "baby" alone is a person
    assert mentions("A seat.") == [("seat", "chair")]  # without a toilet the seat is a chair
    # "stove top oven" has three words and the merge looks at pairs: stove and oven, two oven mentions.
    assert mentions("A stove top oven.") == [("stove", "oven"), ("oven", "oven")]


def test_quirks_of_the_synonym_file_are_kept():
    # " motor bike" and " cheesecake" carry a leading space in the original file: they never match.
    assert mentions("A motor bike, a motorbike and a cheesecake.") == [("motorbike", "motorcycle")]
    assert mentions("An iPhone.") == []  # "iPhone" is capitalised, captions are lower-cased
    # RLAIF-V's refined list fixes the spaces and adds entries.
    assert mentions("A motor bike and a cheesecake.", "rlaifv", REFINED) == [
        ("motor bike", "motorcycle"),
        ("cheesecake", "cake"),
    ]
    assert mentions("My brother at a coffee table.", "rlaifv", REFINED) == [
        ("brother", "person"),
        ("coffee table", "dining table"),
    ]
    assert mentions("A dining table.", "rlaifv", REFINED) == [("dining table", "dining table")]


def test_the_worked_example_of_the_spec():
    # "A baby elephant stands near a hot dog stand and two chairs." with GT {elephant, person}:
    # elephant (baby elephant), hot dog (not dog), chair → 3 mentions, 2 hallucinated.
    caption = "A baby elephant stands near a hot dog stand and two chairs."
    result = score_caption(ORIGINAL.mentions(normaliser("opera")(caption)), {"elephant", "person"}, caption)
    assert result.classes == ["elephant", "hot dog", "chair"]
    assert result.hallucinated == [("hot dog", "hot dog"), ("chair", "chair")]
    assert result.is_hallucinated and result.chair_i == pytest.approx(2 / 3)


def test_variants_normalise_differently():
    caption = "A dog tied to a post, two men skiing."
    # OPERA: POS-aware lemmas: tied (VBN) → tie, skiing (VBG) → ski → skis; "men" stays "men" (WordNet).
    assert mentions(caption, "opera") == [("dog", "dog"), ("tie", "tie"), ("ski", "skis")]
    # RLAIF-V: noun-only lemmas: "tied" and "skiing" stay as they are.
    assert mentions(caption, "rlaifv", REFINED) == [("dog", "dog")]
    # The original: pattern's singularize knows "men" → man; it leaves verbs alone.
    assert mentions(caption, "original") == [("dog", "dog"), ("man", "person")]
    # pattern turns "glass" into "glas"; the original's "wine glas" rule maps it back to wine glass.
    assert mentions("A wine glass.", "original") == [("wine glass", "wine glass")]
    assert mentions("Two wine glasses.", "opera") == [("wine glass", "wine glass")]  # WordNet: glasses → glass


def test_wordnet_pos_mapping_is_operas():
    assert [wordnet_pos(t) for t in ("JJ", "VBG", "NNS", "RB", "IN", "CD", ".")] == ["a", "v", "n", "r", "n", "n", "n"]


@needs_synonyms
def test_real_synonym_files_parse_as_the_spec_says_and_contain_the_excerpts():
    import hashlib

    original_bytes = (SHARED / "chair" / "synonyms.txt").read_bytes()
    refined_bytes = (SHARED / "object_halbench" / "synonyms_refine.txt").read_bytes()
    assert hashlib.sha256(original_bytes).hexdigest() == SYNONYMS_SHA256
    assert hashlib.sha256(refined_bytes).hexdigest() == SYNONYMS_REFINE_SHA256
    original = CocoVocabulary.original(original_bytes.decode())
    refined = CocoVocabulary.refined(refined_bytes.decode())
    assert len(original.class_names) == 80 and len(original.entries) == 403
    assert " motor bike" in original.entries and "motor bike" not in original.entries
    assert "motor bike" in refined.entries and refined.classes["coffee table"] == "dining table"
    assert "dining table" not in original.double_words and refined.double_words["dining table"] == "dining table"
    for excerpt, vocab in ((ORIGINAL, original), (REFINED, refined)):
        for entry, cls in excerpt.classes.items():
            assert vocab.classes[entry] == cls


# --------------------------------------------------------------------------- ground truth and totals


def _data_dir(tmp_path: Path, image_ids: list[int]) -> Path:
    data = tmp_path / "chair"
    shutil.copytree(FIXTURES / "annotations", data / "annotations")
    (data / SYNONYMS).write_text(ORIGINAL_EXCERPT + "\n", encoding="utf-8")
    (data / SYNONYMS_REFINE).write_text(REFINED_EXCERPT + "\n", encoding="utf-8")
    (data / IMAGE_LIST).write_text("".join(json.dumps({"image_id": i, "caption": "x"}) + "\n" for i in image_ids))
    return data


def test_ground_truth_is_instances_and_caption_mentions_with_train_fallback():
    def caption_mentions(text):
        return ORIGINAL.mentions(normaliser("opera")(text))

    truth = ground_truth(FIXTURES / "annotations", [1, 2, 3, 100], ORIGINAL, caption_mentions)
    # 1: instances person, dog, dining table; captions add cake ("Two people eat a cake.").
    # 2: instance elephant; caption "A baby with an elephant." adds person. 3: no instance, caption toilet.
    # 100 is a train2014 image: read from the train files.
    assert truth == {
        1: {"person", "dog", "dining table", "cake"},
        2: {"elephant", "person"},
        3: {"toilet"},
        100: {"train"},
    }


def test_missing_annotation_file_or_image_id_is_an_error(tmp_path):
    def caption_mentions(text):
        return ORIGINAL.mentions(normaliser("opera")(text))

    with pytest.raises(HarnessError, match=r"COCO image id 999 not found"):
        ground_truth(FIXTURES / "annotations", [1, 999], ORIGINAL, caption_mentions)
    partial = tmp_path / "annotations"
    shutil.copytree(FIXTURES / "annotations", partial)
    (partial / "captions_val2014.json").unlink()
    with pytest.raises(HarnessError, match=r"captions_val2014\.json: COCO annotation file not found"):
        ground_truth(partial, [1], ORIGINAL, caption_mentions)


CAPTIONS = {
    "1": "A man and two dogs sit at a dining table near a hot dog stand.",
    "2": "A baby elephant stands near a hot dog stand and two chairs.",
    "3": "A clean bathroom.",
    "100": "A passenger train on train tracks.",
}


def test_scores_equal_the_hand_computed_chair_values(tmp_path):
    bench = ChairBenchmark(normaliser=normaliser("opera"))
    items = bench.load(_data_dir(tmp_path, [1, 2, 3, 100]))
    assert [i.id for i in items] == ["1", "2", "3", "100"]
    assert items[0].prompt == "Please describe this image in detail."
    assert items[0].image.name == "COCO_val2014_000000000001.jpg"
    report = bench.score(items, CAPTIONS)
    # 1: person, dog, dining table, hot dog vs {person, dog, dining table, cake}: 1 of 4 wrong, recalls 3 of 4.
    # 2: elephant, hot dog, chair vs {elephant, person}: 2 of 3 wrong, recalls 1 of 2.
    # 3: no mention, recalls 0 of 1.  100: train vs {train}: right, recalls 1 of 1.
    # CHAIRs 2/4, CHAIRi 3/8, Recall 5/8; Len = merged tokens (15 + 11 + 4 + 5) / 4.
    assert report.metrics["CHAIRs"] == pytest.approx(50.0)
    assert report.metrics["CHAIRi"] == pytest.approx(37.5)
    assert report.metrics["Recall"] == pytest.approx(62.5)
    assert report.metrics["Len"] == pytest.approx(8.75)
    assert report.official == {"CHAIRs": 50.0, "CHAIRi": 37.5, "Recall": 62.5, "Len": 8.8}
    by_id = {r["id"]: r for r in report.records}
    assert by_id["2"]["hallucinated"] == [["hot dog", "hot dog"], ["chair", "chair"]]
    assert by_id["3"]["correct"] and not by_id["1"]["correct"]
    assert by_id["1"]["truth"] == ["cake", "dining table", "dog", "person"]


def test_rlaifv_variant_uses_the_refined_list(tmp_path):
    bench = ChairBenchmark("rlaifv", normaliser=normaliser("rlaifv"))
    items = bench.load(_data_dir(tmp_path, [1, 2]))
    report = bench.score(items, {"1": "My brother at a coffee table with two dogs.", "2": "An elephant."})
    # 1: brother (person), coffee table (dining table), dog: all in {person, dog, dining table, cake}.
    assert report.metrics["CHAIRs"] == 0.0 and report.metrics["mentions"] == 4.0
    assert "synonyms_refine.txt" in bench.protocol().data_version


def test_zero_mentions_give_zero_rates_with_the_counts_shown():
    t = totals([])
    assert t["CHAIRi"] == 0.0 and t["mentions"] == 0.0
    assert opera_printout(totals([score_caption(ORIGINAL.mentions([]), set(), "")]))["CHAIRs"] == 0.0


# --------------------------------------------------------------------------- predictions and errors


def test_predictions_round_trip_and_bad_input_names_file_and_line(tmp_path):
    bench = ChairBenchmark(normaliser=normaliser("opera"))
    items = bench.load(_data_dir(tmp_path, [1, 2]))
    path = tmp_path / "preds.jsonl"
    bench.write_predictions(path, items, {"1": "a dog", "2": "an elephant"})
    assert [json.loads(x) for x in path.read_text().splitlines()] == [
        {"image_id": 1, "caption": "a dog"},
        {"image_id": 2, "caption": "an elephant"},
    ]
    assert bench.read_predictions(path, items) == {"1": "a dog", "2": "an elephant"}

    def check(lines: list[str], pattern: str) -> None:
        path.write_text("\n".join(lines) + "\n")
        with pytest.raises(HarnessError, match=pattern):
            bench.read_predictions(path, items)

    good = json.dumps({"image_id": 1, "caption": "a dog"})
    check([good, "{not json"], r"preds\.jsonl:2: malformed JSON")
    check([good, json.dumps({"image_id": 7, "caption": "x"})], r"preds\.jsonl:2: image_id 7 is not one of")
    check([good, good], r"preds\.jsonl:2: image_id 1 appears more than once")
    check([good], r"preds\.jsonl: no caption for id 2")
    check([json.dumps({"image_id": "one", "caption": "x"})], r"preds\.jsonl:1: field 'image_id' must be an integer")
    check([json.dumps({"image_id": 1, "text": "x"})], r"preds\.jsonl:1: image_id 1: missing or non-string field")


def test_evaluate_with_a_bad_prediction_file_leaves_no_results(tmp_path, monkeypatch):
    import benchmarks.chair.benchmark as chair_module
    from harness.evaluate import evaluate

    # NLTK's data is not installable here: the scorer's NLTK normaliser is replaced by the stand-in.
    monkeypatch.setattr(chair_module, "nltk_normaliser", lambda variant, nltk_data, benchmark: normaliser(variant))
    data = _data_dir(tmp_path, [1, 2])
    preds = tmp_path / "preds.jsonl"
    line = json.dumps({"image_id": 1, "caption": "a dog"})
    preds.write_text(line + "\n" + line)
    out = tmp_path / "out" / "results.json"
    with pytest.raises(HarnessError, match=r"preds\.jsonl:2: image_id 1 appears more than once"):
        evaluate("chair", data_dir=data, predictions=preds, out=out, own_data=True)  # excerpts: own data
    assert not out.exists() and not out.with_name("results.partial.json").exists()
    preds.write_text("".join(json.dumps({"image_id": i, "caption": CAPTIONS[str(i)]}) + "\n" for i in (1, 2)))
    results = evaluate("chair", data_dir=data, predictions=preds, out=out, own_data=True)
    # 1: 1 of 4 mentions wrong; 2: 2 of 3 → CHAIRs 100, CHAIRi 3/7.
    assert results.metrics["CHAIRs"] == pytest.approx(100.0)
    assert results.metrics["CHAIRi"] == pytest.approx(300 / 7)
    stored = json.loads(out.read_text())
    assert stored["protocol"]["columns"][0] == {
        "label": "CHAIRs",  # the leaderboard adds ↓ from lower_is_better
        "metric": "CHAIRs",
        "lower_is_better": True,
        "decimals": 1,
        "headline": True,
        "order": 70,
    }


# --------------------------------------------------------------------------- NLTK and pattern


def _nltk_has(resource: str) -> bool:
    import nltk

    try:
        nltk.data.find(resource)
        return True
    except LookupError:
        return False


def test_missing_nltk_data_is_a_clear_error_never_a_fallback(tmp_path):
    if _nltk_has("tokenizers/punkt_tab/english/"):
        pytest.skip("NLTK punkt data installed on this machine")
    norm = nltk_normaliser("opera", tmp_path / "nltk_data", benchmark="chair")
    with pytest.raises(HarnessError) as err:
        norm("A dog.")
    message = str(err.value)
    assert "punkt" in message and "variant 'opera'" in message and "harness data pull chair" in message
    assert "averaged_perceptron_tagger_eng" in message and "wordnet" in message


def test_original_variant_without_pattern_says_so():
    try:
        import pattern.en  # noqa: F401

        pytest.skip("the pattern package is installed")
    except Exception:
        pass
    with pytest.raises(HarnessError, match=r"variant 'original' needs the `pattern` package"):
        nltk_normaliser("original", None, benchmark="chair")


@pytest.mark.skipif(
    not (_nltk_has("corpora/wordnet") or _nltk_has("corpora/wordnet.zip")),
    reason="NLTK WordNet data not installed (cannot be downloaded here)",
)
def test_real_wordnet_lemmas_behind_the_stand_in_table():
    from nltk.stem import WordNetLemmatizer

    lemmatize = WordNetLemmatizer().lemmatize
    for (word, pos), lemma in LEMMAS.items():
        assert lemmatize(word, pos) == lemma
    assert lemmatize("men", "n") == "men"


@pytest.mark.skipif(
    not (SHARED / "chair" / "opera_llava15_captions" / "greedy.jsonl").is_file(),
    reason="OPERA captions not found in ../shared",
)
def test_operas_caption_file_gives_the_500_image_list(tmp_path):
    data = tmp_path / "chair"
    data.mkdir()
    shutil.copy(SHARED / "chair" / "opera_llava15_captions" / "greedy.jsonl", data / IMAGE_LIST)
    items = ChairBenchmark().load(data)
    assert len(items) == 500 and items[0].id == "226988"
    preds = ChairBenchmark().read_predictions(data / IMAGE_LIST, items)  # OPERA's own format reads as is
    assert preds["226988"].startswith("The image features a woman sitting at a dining table")


def test_len_is_printed_in_operas_order_of_operations():
    # OPERA prints f"{0.01 * total / n * 100:.01f}"; dividing first rounds this tie the other way (42.2)
    t = {"CHAIRs": 0.5, "CHAIRi": 0.25, "Recall": 0.5, "Len": 507 / 12, "merged_tokens": 507.0, "captions": 12.0}
    assert opera_printout(t)["Len"] == 42.3
