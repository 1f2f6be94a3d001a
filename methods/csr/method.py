"""CSR: Calibrated Self-Rewarding (Zhou et al., NeurIPS 2024, arXiv 2405.14622; official code
YiyangZhou/CSR @ 353de42, ``inference_csr/sample.py``, ``score.py``, ``construct.py``).

Data as released (``inference_csr/data/CSR-Prompt-Dataset-12k.json`` and the datasets
charlesdj/CSR-12K-iter0/1/2):

- images: one fixed set of 12,856 COCO train2014 images (``images_per_iter``), the same every round: each
  round re-samples the same prompts with the current model. The harness draws the set once with the run's
  seed (``image_plan``: ``ImagePlan(same_every_iteration=True)``) and gives it to every iteration, a run
  that grows included; on a LLaVA-665k file from its ``coco/`` images, on a COCO or folder source from the
  whole pool; on the built-in model the synthetic world's own fixed set at the tiny default count;
- prompts: every image gets one of the 11 LLaVA detailed-description questions the file uses
  (``QUESTIONS``, verbatim; each used 1,082–1,204 times), drawn from the run's seed and the image id, not
  the iteration, so an image keeps its prompt every round as the file fixes it.
  ``question_source=annotation`` (a deviation, not the release) asks the image source's annotation
  question where it has one.

Per image and prompt:

1. sentence-level search (methods/csr/search.py): each active node is continued by 5 sentences
   (diverse beam search, 5 groups, penalty 3.0, ≤ 70 tokens, ending at a period); a child is final
   when it contains EOS or its response reaches ``char_cap`` characters; the non-final children of a
   depth are pruned to the best 1 and the worst 2 by cumulative LM score (the release: CLIP plays no
   role in the search);
2. cleaning: a sentence shorter than 4 characters, in Korean/kana/Cyrillic script, with a word repeated
   6 times in a row, a character repeated 11 times or more than 5 newlines is removed with its subtree;
3. CLIP score of every sentence against the image: 100·cos (``logits_per_image``);
4. reward (``reward=released_ranks``, the release): among siblings, rank by LM score and by CLIP
   score (best 1/n … worst 1), v = (1 − α)·rank + α·clip_rank with α = ``clip_alpha`` = 0.9; a path's
   value is Σ v / (its nodes + the root); chosen = the complete path of lowest value, rejected = the
   highest.

The paper's reading (variant ``paper``: ``reward=paper_raw``, ``clip_guides_search=true``): the
calibrated reward r = (1 − α)·LM score + α·cos is accumulated along the path and guides the pruning
too; chosen = highest average reward, rejected = lowest. The paper's exact equation is not public:
this weighting is our reading, the release's is the default.

Training (``scripts/run_train.sh``): plain DPO (β 0.1), LoRA r 128/α 256, lr 1e-7, cosine, warm-up 3 %,
1 epoch per iteration, 1 pair per device × gradient accumulation 1, so the global batch is the number of
GPUs (``global_batch_size=0``: per-device × processes); the LoRA is merged after every iteration and the
next round samples and trains from the merged model (the harness merges LoRA into θi at the end of each
iteration). On the built-in tiny model the batch keys keep the tiny scale (harness/train/config.py).

``clip_model``: a local CLIP checkpoint folder (the release scores with
openai/clip-vit-large-patch14-336), or ``tiny``, the built-in offline CLIP; left empty, the built-in
tiny policy uses the built-in tiny CLIP and any other model is refused with a message naming the
option.

Deviations: generation is greedy diverse beam search as described (no sampling in the release
either); an image without a complete path, or whose chosen and rejected paths are the same text, gives
no pair (the release raises or keeps it), counted; the character cap counts the response only (the
release counts the prompt too, which with image-token expansion ends every answer after one
sentence); ``max_sentences`` (20) bounds the depth; a sentence is the generated tokens themselves
(the release cuts it from decoded text by a fixed offset).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from harness.benchmark import ReportedNumbers
from harness.errors import HarnessError
from harness.images.sampling import ImagePlan
from harness.method import Method, PreferencePair, PreferenceSet, SynthesisContext, TrainingObjective
from harness.plugins import hookimpl
from methods.common.pairs import StepLog, stable_seed
from methods.csr.search import Node, csr_policy, expand, prune

# The 11 distinct questions of CSR-Prompt-Dataset-12k.json (LLaVA's detailed-description questions), verbatim,
# the first with its stray apostrophe.
QUESTIONS = (
    "What is this photo about'?",
    "Can you describe the main features of this image for me?",
    "What's happening in the scene?",
    "What do you see happening in this image?",
    "What do you think is going on in this snapshot?",
    "Write a detailed description of the given image.",
    "What are the key elements in this picture?",
    "Can you elaborate on the elements of the picture provided?",
    "Analyze the image in a comprehensive and detailed manner.",
    "Explain the visual content of the image in great detail.",
    "Describe the following image.",
)
REWARDS = ("released_ranks", "paper_raw")
QUESTION_SOURCES = ("csr", "annotation")
IMAGES = 12_856  # the prompts (and COCO train2014 images) of CSR-Prompt-Dataset-12k.json
OBJECTIVES = ("dpo", "mdpo")

_BAD_SCRIPT = re.compile("[\uac00-\ud7af\u1100-\u11ff\u3040-\u30ff\u0400-\u04ff]")
_REPEATED_WORD = re.compile(r"\b(\w+)(?:\s+\1\b){5,}", re.IGNORECASE)
_REPEATED_CHAR = re.compile(r"(\S)(?:\s*\1){10,}")


def bad_sentence(text: str) -> str | None:
    """Why the release's cleaning would remove this sentence (None: kept)."""
    if len(text) < 4:
        return "short"
    if _BAD_SCRIPT.search(text) or "&nbsp;&nbsp;" in text:
        return "script"
    if _REPEATED_WORD.search(text) or _REPEATED_CHAR.search(text):
        return "repetition"
    if text.count("\n") > 5:
        return "newlines"
    return None


@dataclass
class CsrConfig:
    reward: str = "released_ranks"  # released_ranks (the release) or paper_raw (the paper's reading)
    clip_guides_search: bool = False  # the release: CLIP only after the search; true: the paper's description
    clip_alpha: float = 0.9
    clip_model: str = ""  # a local CLIP folder, or tiny; "": tiny for the built-in tiny policy, else an error
    groups: int = 5  # token beams = beam groups = candidate sentences per expansion
    diversity_penalty: float = 3.0
    sentence_beams: int = 5  # sentence-level width used by the pruning
    max_new_tokens: int = 70  # per sentence
    char_cap: int = 1024  # response characters
    max_sentences: int = 20
    objective: str = "dpo"
    question_source: str = field(
        default="csr",
        metadata={
            "help": "csr: one of CSR's 11 description questions per image (CSR-Prompt-Dataset-12k.json: "
            + " | ".join(QUESTIONS)
            + "), fixed by seed and image id, the same every round; annotation (not the release): the image "
            "source's annotation question where it has one, else csr's"
        },
    )

    def validate(self) -> None:
        if self.question_source not in QUESTION_SOURCES:
            raise HarnessError(
                f"csr option question_source={self.question_source!r}: accepted values are "
                + ", ".join(QUESTION_SOURCES)
            )
        if self.reward not in REWARDS:
            raise HarnessError(f"csr option reward={self.reward!r}: accepted values are {', '.join(REWARDS)}")
        if self.objective not in OBJECTIVES:
            raise HarnessError(f"csr option objective={self.objective!r}: accepted values are {', '.join(OBJECTIVES)}")
        a = self.clip_alpha
        if isinstance(a, bool) or not isinstance(a, (int, float)) or not 0.0 <= float(a) <= 1.0:
            raise HarnessError(f"csr option clip_alpha={a!r}: accepted values are numbers in 0-1")
        for key in ("groups", "sentence_beams", "max_new_tokens", "char_cap", "max_sentences"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise HarnessError(f"csr option {key}={v!r}: accepted values are integers ≥ 1")
        if not isinstance(self.diversity_penalty, (int, float)) or self.diversity_penalty < 0:
            raise HarnessError(f"csr option diversity_penalty={self.diversity_penalty!r}: accepted values are ≥ 0")


class Csr(Method):
    name = "csr"
    description = (
        "CSR (NeurIPS 2024): sentence-level beam search, paths ranked by LM score + CLIP; best vs "
        "worst path, DPO, LoRA merged per round"
    )
    Config = CsrConfig
    images_per_iter = IMAGES
    variants: ClassVar[dict] = {
        "paper": {"reward": "paper_raw", "clip_guides_search": True},
        "mdpo": {"objective": "mdpo"},
    }
    reported = (
        ReportedNumbers(
            source="SENA (Tan et al., AAAI 2025), arXiv 2412.15650, Table 4",
            model="LLaVA-1.5-7B + CSR",
            table="sena-table4",
            judges={
                "llava_wild": "gpt-4-1106-preview",
                "mmvet": "gpt-4-1106-preview",
                "mmhal": "gpt-4-1106-preview",
            },  # as SENA's Table 4 states
            note="evaluated by SENA's authors on the released CSR model (†); GPT-4-1106-preview judge, 3 runs "
            "averaged; MMBench dev split",
            values={
                "llava_wild/relative_score": 65.7,
                "mmvet/total": 32.2,
                "mmhal/average_score": 2.07,
                "mmhal/hallucination_rate": 0.60,
                "amber/CHAIR": 3.8,
                "amber/Cover": 45.0,
                "amber/Hal": 16.9,
                "amber/Cog": 1.4,
                "amber/Accuracy": 73.1,
                "amber/F1": 76.0,
                "mmbench/overall": 64.1,
            },
        ),
    )

    def __init__(self, config=None, scorer=None):
        super().__init__(config)
        self._scorer = scorer

    def objective(self) -> TrainingObjective:
        obj = TrainingObjective(beta=0.1, name="csr")
        if self.config.objective == "mdpo":
            from harness.train.objectives import with_mdpo

            obj = with_mdpo(obj)
        return obj

    def image_plan(self, per_iter: int) -> ImagePlan:
        """One fixed set of ``per_iter`` images for every round (CSR-Prompt-Dataset-12k.json: 12,856 COCO
        train2014 images; charlesdj/CSR-12K-iter0/1/2 re-sample the same prompts each round): the ``coco/``
        images of a LLaVA-665k file, or the whole pool of a source without per-source structure."""
        return ImagePlan(
            {"coco": per_iter},
            "csr (CSR-Prompt-Dataset-12k.json: one set of COCO images, re-sampled every round)",
            uniform_fallback=True,
            same_every_iteration=True,
        )

    def question(self, ref, ctx: SynthesisContext) -> str:
        """The image's prompt: one of ``QUESTIONS`` drawn from the run's seed and the image id (never the
        iteration: an image keeps its prompt every round); ``question_source=annotation``: the image's own
        annotation question where it has one."""
        seed = ctx.run_seed if ctx.run_seed is not None else ctx.seed
        rng = random.Random(stable_seed("csr-question", seed, ref.id))
        own = list(getattr(ref, "questions", ())) if self.config.question_source == "annotation" else []
        return rng.choice(own) if own else rng.choice(QUESTIONS)

    def train_recipe(self) -> dict:
        """YiyangZhou/CSR @ 353de42 scripts/run_train.sh: LoRA r 128/α 256 on the LLM, lr 1e-7, cosine, warm-up
        3 %, 1 epoch per round, merged after the round; the projector frozen; ``per_device_train_batch_size 1``,
        ``gradient_accumulation_steps 1``: the global batch is the number of GPUs (``global_batch_size=0``)."""
        return {
            "lora": True,
            "lora_r": 128,
            "lora_alpha": 256,
            "lora_train_projector": False,
            "learning_rate": 1e-7,
            "lr_scheduler": "cosine",
            "warmup_ratio": 0.03,
            "epochs": 1.0,
            "per_device_batch_size": 1,
            "global_batch_size": 0,  # per-device × processes, no accumulation
        }

    def scorer(self, ctx: SynthesisContext):
        if self._scorer is not None:
            return self._scorer
        from harness.clip_score import ClipScorer

        spec = self.config.clip_model
        if not spec:
            if (ctx.base_model or "") != "tiny" and ctx.checkpoint != "tiny":
                raise HarnessError(
                    "csr needs a CLIP model to score sentences: set --set clip_model=<local folder of "
                    "openai/clip-vit-large-patch14-336> (the release's scorer), or clip_model=tiny for the built-in "
                    "offline CLIP"
                )
            spec = "tiny"
        try:
            self._scorer = ClipScorer.load(spec)
        except HarnessError as exc:
            raise HarnessError(f"csr option clip_model={spec}: {exc}") from None
        return self._scorer

    def _clip(self, scorer, picture, nodes: list[Node]) -> None:
        todo = [n for n in nodes if n.clip is None]
        if not todo:
            return
        scores = scorer.score([picture], [n.sentence for n in todo], image_index=[0] * len(todo))
        for n, s in zip(todo, scores):
            n.clip = 100.0 * sum(s.cosines) / len(s.cosines)

    def _reward(self, n: Node) -> float:
        a = float(self.config.clip_alpha)
        return (1 - a) * n.lm + a * (n.clip or 0.0) / 100.0

    def synthesize(self, backend, images: Sequence, ctx: SynthesisContext) -> PreferenceSet:
        cfg = self.config
        policy = csr_policy(backend)
        scorer = self.scorer(ctx)
        log = StepLog()
        tok = policy.processor.tokenizer
        pictures = [ctx.open_image(ref) for ref in images]
        prompts = [self.question(ref, ctx) for ref in images]
        trees: list[list[Node]] = [[Node(0, None, 0)] for _ in images]
        active = [(i, 0) for i in range(len(images))]
        removed = {"short": 0, "script": 0, "repetition": 0, "newlines": 0}
        depth = 0
        with log.step("search", 0, calls=0) as st:
            while active:
                depth += 1
                st["generation_calls"] += 1
                st["requests"] += len(active)
                found = expand(
                    policy,
                    [pictures[i] for i, _ in active],
                    [prompts[i] for i, _ in active],
                    [trees[i][k].tokens for i, k in active],
                    groups=cfg.groups,
                    penalty=float(cfg.diversity_penalty),
                    max_new_tokens=cfg.max_new_tokens,
                    batch_size=max(1, getattr(backend, "batch_size", 16) // cfg.groups),
                    map_batches=getattr(backend, "map_batches", None),
                )
                by_image: dict[int, list[Node]] = {}
                for (i, k), children in zip(active, found):
                    parent = trees[i][k]
                    for ch in children:
                        tokens = parent.tokens + ch.tokens
                        node = Node(len(trees[i]), k, depth, tokens, ch.text, ch.score, parent.cum + ch.score)
                        response = tok.decode(tokens, skip_special_tokens=True)
                        node.final = ch.ended_with_eos or len(response) >= cfg.char_cap or depth >= cfg.max_sentences
                        why = bad_sentence(ch.text)
                        if why:
                            node.removed = True
                            removed[why] += 1
                        trees[i].append(node)
                        parent.children.append(node.index)
                        if not node.final and not node.removed:
                            by_image.setdefault(i, []).append(node)
                if cfg.clip_guides_search:
                    for i, nodes in by_image.items():
                        self._clip(scorer, pictures[i], nodes)
                        for n in nodes:
                            n.reward_cum = trees[i][n.parent].reward_cum + self._reward(n)
                key = (lambda n: n.reward_cum) if cfg.clip_guides_search else (lambda n: n.cum)
                active = [
                    (i, n.index) for i, nodes in sorted(by_image.items()) for n in prune(nodes, cfg.sentence_beams, key)
                ]
        with log.step("clip_score", 0) as st:
            for i, tree in enumerate(trees):
                kept = [n for n in tree[1:] if not n.removed]
                st["requests"] += len([n for n in kept if n.clip is None])
                self._clip(scorer, pictures[i], kept)
            st["clip_model"] = getattr(scorer, "name", "?")
        counts = {"images": len(images), "with_complete_path": 0, "distinct_paths": 0}
        pairs = []
        base = self.provenance(ctx)
        for i, tree in enumerate(trees):
            paths = self._complete_paths(tree)
            if not paths:
                continue
            counts["with_complete_path"] += 1
            values = self._path_values(tree, paths)
            order = sorted(range(len(paths)), key=lambda p: values[p])
            lo, hi = paths[order[0]], paths[order[-1]]
            texts = [tok.decode(tree[p[-1]].tokens, skip_special_tokens=True).strip() for p in (lo, hi)]
            if cfg.reward == "released_ranks":  # lower value is better
                chosen, rejected, vc, vr = texts[0], texts[1], values[order[0]], values[order[-1]]
            else:  # higher reward is better
                chosen, rejected, vc, vr = texts[1], texts[0], values[order[-1]], values[order[0]]
            if not chosen or chosen == rejected:
                continue
            counts["distinct_paths"] += 1
            provenance = dict(
                base,
                complete_paths=len(paths),
                nodes=len(tree) - 1,
                value_chosen=round(vc, 6),
                value_rejected=round(vr, 6),
            )
            pairs.append(PreferencePair.for_image(images[i], prompts[i], chosen, rejected, "des", provenance))
        return PreferenceSet(pairs, counts, log.stats(removed_sentences=removed, max_depth=depth))

    @staticmethod
    def _complete_paths(tree: list[Node]) -> list[list[int]]:
        """Root-to-leaf node lists (root excluded) ending in a final node, all nodes kept by the cleaning."""
        paths = []
        for n in tree[1:]:
            if not n.final or n.removed:
                continue
            path, k = [], n.index
            while k:
                if tree[k].removed:
                    break
                path.append(k)
                k = tree[k].parent
            else:
                paths.append(path[::-1])
        return paths

    def _path_values(self, tree: list[Node], paths: list[list[int]]) -> list[float]:
        cfg = self.config
        if cfg.reward == "paper_raw":
            return [sum(self._reward(tree[k]) for k in p) / (len(p) + 1) for p in paths]
        a = float(cfg.clip_alpha)
        value: dict[int, float] = {}
        for parent in tree:
            sibs = [tree[c] for c in parent.children if not tree[c].removed]
            if not sibs:
                continue
            n = len(sibs)
            by_lm = sorted(sibs, key=lambda s: s.lm, reverse=True)
            by_clip = sorted(sibs, key=lambda s: s.clip or 0.0, reverse=True)
            rank = {s.index: (j + 1) / n for j, s in enumerate(by_lm)}
            clip_rank = {s.index: (j + 1) / n for j, s in enumerate(by_clip)}
            for s in sibs:
                value[s.index] = (1 - a) * rank[s.index] + a * clip_rank[s.index]
        return [sum(value[k] for k in p) / (len(p) + 1) for p in paths]


def csr_describe_task(scene, rng: random.Random) -> list:
    """Warm-up: one of CSR's description prompts → the scene's caption."""
    from harness.policy.warmup_tasks import WarmupExample

    return [WarmupExample(rng.choice(QUESTIONS), scene.caption())]


@hookimpl
def harness_methods() -> list[type]:
    return [Csr]


@hookimpl
def harness_warmup_tasks() -> list:
    return [csr_describe_task]
