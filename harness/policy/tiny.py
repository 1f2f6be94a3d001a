"""The built-in ``tiny`` model: a LLaVA-architecture model built fully offline, deterministically.

Steps (seeded; about 4 minutes on one idle core, once, then cached; the default recipe's model ships
with the package, harness/policy/shipped.py, so only another seed, recipe or corpus builds):
1. Warm-up corpus: instruction examples over synthetic shape scenes, from the built-in tasks and
   every plugin's ``harness_warmup_tasks`` (harness/policy/warmup_tasks.py). The warm-up scenes follow
   a skewed co-occurrence prior (a circle almost always comes with a square: ``cooccurrence_join``),
   as real captioning corpora do, so the model learns a language prior that can make it hallucinate.
2. Tokenizer: a byte-level BPE trained on that corpus with ``tokenizers``.
3. Model: ``LlavaForConditionalGeneration`` with a small CLIP vision tower (48 px, patch 8: 36 image
   tokens; started from colour detectors) and a small Llama, seeded initialisation.
4. Vision pretraining (harness/policy/tiny_vision.py): the tower learns which shape covers each patch,
   on scenes of its own, then is frozen, as LLaVA starts from a pretrained, frozen CLIP.
5. Warm-up: a supervised run on answer tokens, rendered with the ``llava_v1`` template exactly as
   generation renders it, so greedy decoding reproduces the formats. A curriculum first (captions and
   existence questions answered "Yes" and "No" in equal shares; the questions about scenes without the
   captions' prior), then the whole corpus mixed with it.
6. ``save_pretrained`` of model and ``LlavaProcessor`` into ``<cache>/models/tiny-<fingerprint>``,
   written to a temporary folder and renamed, under a lock that concurrent builders wait on.

The fingerprint hashes the recipe and the corpus, so a change of either builds a new model.
What it sees and what it hallucinates on held-out scenes is measured in docs/proving-ground.md; it is
for running the whole pipeline offline and comparing methods at laptop scale, not for quality claims.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.images.synthetic import SKEWED, CoOccurrence, Scene, make_scene
from harness.policy.build_cache import build_once, default_cache_root
from harness.policy.shipped import shipped_model
from harness.policy.templates import get_template
from harness.policy.warmup_tasks import BUILTIN_TASKS, BalancedPools, WarmupExample, WarmupTask, balanced_pools

RECIPE_VERSION = 5
SHIPPED_NAME = "tiny"  # harness/policy/shipped/tiny
WARMUP_NAMESPACE = "tiny-warmup"
QUESTION_NAMESPACE = "tiny-warmup-questions"
SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>", "<image>"]
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class TinyRecipe:
    seed: int = 0
    scenes: int = 1500
    vocab_size: int = 1024
    image_size: int = 48  # 48 px, patch 8: 36 image tokens (32 px or patch 12 stayed at CHAIR 66-69)
    patch_size: int = 8
    vision_hidden: int = 128
    vision_layers: int = 2
    train_vision: bool = False  # frozen after its pretraining (``vision_steps``), as LLaVA freezes CLIP
    text_hidden: int = 128
    text_layers: int = 2
    heads: int = 4
    max_positions: int = 1024
    curriculum_steps: int = 600  # phase 1: captions and balanced yes/no questions only
    steps: int = 400  # phase 2: the full corpus (every plugin's formats) mixed with the balanced pools
    batch_size: int = 16
    lr: float = 1e-3  # 3e-3, or a 10x projector rate, collapses to one caption whatever the image
    projector_lr_scale: float = 1.0
    caption_share: float = 0.3  # phase 1: share of captions; the rest is half "Yes", half "No" (0.4: less stable)
    balanced_share: float = 0.3  # phase 2: share drawn from the balanced pools
    cooccurrence_join: float = SKEWED.join  # the warm-up scenes' skewed prior (harness/images/synthetic.py)
    vision_steps: int = 500  # pretraining of the vision tower: which shape covers each patch (tiny_vision.py)
    vision_scenes: int = 2000
    vision_batch: int = 64
    vision_lr: float = 1e-3
    # the balanced existence questions are asked about scenes of their own, with this prior (None: about
    # the caption scenes). 0.0: kinds drawn independently, as VQA data is not a captioning corpus
    question_join: float | None = 0.0
    template: str = "llava_v1"
    threads: int = 1  # torch threads of the build: the sums, and so the model, depend on it (threads.py)

    @property
    def total_steps(self) -> int:
        return self.curriculum_steps + self.steps

    def prior(self) -> CoOccurrence:
        """The co-occurrence prior of the warm-up scenes."""
        return CoOccurrence(join=self.cooccurrence_join)

    def scene(self, index: int) -> Scene:
        return make_scene(WARMUP_NAMESPACE, index, self.prior())

    def question_scene(self, index: int) -> Scene:
        """The scene of the balanced existence questions number ``index`` (own namespace and prior)."""
        if self.question_join is None:
            return self.scene(index)
        return make_scene(QUESTION_NAMESPACE, index, CoOccurrence(join=self.question_join))


def build_corpus(recipe: TinyRecipe, tasks: list[WarmupTask]) -> list[tuple[int, WarmupExample]]:
    """(scene index, example) pairs from every task, deterministic in the recipe's seed."""
    rng = random.Random(recipe.seed)
    corpus = []
    for i in range(recipe.scenes):
        scene = recipe.scene(i)
        for task in tasks:
            for ex in task(scene, rng):
                corpus.append((i, ex))
    return corpus


def _task_name(task: WarmupTask) -> str:
    return f"{getattr(task, '__module__', '?')}.{getattr(task, '__qualname__', repr(task))}"


def fingerprint(recipe: TinyRecipe, corpus: list[tuple[int, WarmupExample]]) -> str:
    h = hashlib.sha256(json.dumps({"v": RECIPE_VERSION, "recipe": asdict(recipe)}, sort_keys=True).encode())
    for i, ex in corpus:
        h.update(f"{i}\x00{ex.prompt}\x00{ex.answer}\x00{int(ex.with_image)}\x01".encode())
    return h.hexdigest()[:16]


def collect_tasks(extra_tasks: list[WarmupTask] | None = None) -> list[WarmupTask]:
    """Built-in tasks plus the installed plugins' tasks, in a stable order."""
    if extra_tasks is None:
        from harness.plugins import registry

        extra_tasks = registry().warmup_tasks
    seen: dict[str, WarmupTask] = {}
    for task in list(BUILTIN_TASKS) + sorted(extra_tasks, key=_task_name):
        seen.setdefault(_task_name(task), task)
    return list(seen.values())


def default_recipe() -> TinyRecipe:
    """The default recipe; ``$HARNESS_TINY_SEED`` (read at call time) builds the same recipe under another
    seed, to check that a conclusion or a test does not hang on one model."""
    seed = os.environ.get("HARNESS_TINY_SEED", "").strip()
    if not seed:
        return TinyRecipe()
    if not seed.isdigit():
        raise HarnessError(f"HARNESS_TINY_SEED={seed!r}: a whole number (the tiny model's build seed)")
    return TinyRecipe(seed=int(seed))


def ensure_tiny(
    cache_root: Path | None = None,
    *,
    recipe: TinyRecipe | None = None,
    extra_tasks: list[WarmupTask] | None = None,
    progress: bool = True,
    use_shipped: bool = True,
) -> Path:
    """The folder of the tiny model for this recipe and corpus: the model shipped with the package when
    its fingerprint is this one (harness/policy/shipped.py), else built into the cache on first use."""
    recipe = recipe or default_recipe()
    tasks = collect_tasks(extra_tasks)
    corpus = build_corpus(recipe, tasks)
    fp = fingerprint(recipe, corpus)
    if use_shipped:
        shipped = shipped_model(SHIPPED_NAME, fp)
        if shipped is not None:
            return shipped
    root = Path(cache_root) if cache_root is not None else default_cache_root()
    target = root / "models" / f"tiny-{fp}"

    def build(tmp: Path) -> None:
        from harness.progress import make_console, stage_end, stage_start

        console = make_console()
        title = (
            f"building the built-in tiny LLaVA (once; {recipe.total_steps} warm-up steps on synthetic "
            f"scenes, about 4 minutes on one idle core) into {target}"
        )
        started = stage_start(console, title) if progress else 0.0
        build_tiny(tmp, recipe, corpus, progress=progress)
        if progress:
            stage_end(console, "tiny LLaVA built", started, str(target))

    return build_once(target, build)


def _train_tokenizer(recipe: TinyRecipe, texts: list[str]):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=recipe.vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    bos = tok.token_to_id("<s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        extra_special_tokens={"image_token": "<image>"},
    )


def build_tiny(
    out_dir: Path, recipe: TinyRecipe, corpus: list[tuple[int, WarmupExample]], *, progress: bool = True
) -> None:
    from harness.policy.threads import torch_threads

    template = get_template(recipe.template)
    processor = make_processor(recipe, corpus)
    with torch_threads(recipe.threads):
        model = make_model(recipe, processor.tokenizer)
        info: dict = {"recipe": asdict(recipe), "examples": len(corpus)}
        if recipe.vision_steps:
            from harness.policy.tiny_vision import pretrain_vision

            info["vision"] = pretrain_vision(model, processor, recipe, progress=progress)
        _warm_up(model, processor, template, recipe, corpus, progress=progress)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    (out_dir / "harness_tiny.json").write_text(json.dumps(info, indent=2))


def make_processor(recipe: TinyRecipe, corpus: list[tuple[int, WarmupExample]]):
    """A ``LlavaProcessor``: a byte-level BPE trained on the corpus (as rendered for generation) and a
    CLIP image processor at the recipe's resolution."""
    from transformers import CLIPImageProcessorPil, LlavaProcessor

    template = get_template(recipe.template)
    texts = [
        template.render(ex.prompt, with_image=ex.with_image) + template.render_answer(ex.answer) for _, ex in corpus
    ]
    tokenizer = _train_tokenizer(recipe, texts)
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": recipe.image_size},
        crop_size={"height": recipe.image_size, "width": recipe.image_size},
        image_mean=list(CLIP_MEAN),
        image_std=list(CLIP_STD),
        do_convert_rgb=True,
    )
    return LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=recipe.patch_size,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
    )


def make_model(recipe: TinyRecipe, tokenizer):
    """A seeded, untrained ``LlavaForConditionalGeneration`` of the recipe's size, with the colour
    patch embedding; the vision tower trains with the rest unless ``recipe.train_vision`` is False."""
    import torch
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

    n_image_tokens = (recipe.image_size // recipe.patch_size) ** 2
    torch.manual_seed(recipe.seed)
    vision = CLIPVisionConfig(
        image_size=recipe.image_size,
        patch_size=recipe.patch_size,
        hidden_size=recipe.vision_hidden,
        intermediate_size=2 * recipe.vision_hidden,
        num_hidden_layers=recipe.vision_layers,
        num_attention_heads=recipe.heads,
        projection_dim=recipe.vision_hidden,
    )
    text = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=recipe.text_hidden,
        intermediate_size=2 * recipe.text_hidden,
        num_hidden_layers=recipe.text_layers,
        num_attention_heads=recipe.heads,
        num_key_value_heads=recipe.heads,
        max_position_embeddings=recipe.max_positions,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        image_seq_length=n_image_tokens,
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
        tie_word_embeddings=True,
    )
    model = LlavaForConditionalGeneration(config)
    _colour_patch_embedding(model)
    for param in model.model.vision_tower.parameters():
        param.requires_grad_(recipe.train_vision)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    return model


def _colour_patch_embedding(model) -> None:
    """Give the vision tower colour detectors: each of the first 12 channels averages one colour
    channel over one quadrant of a patch, the next 3 over the whole patch; the rest stay random.

    A random tower hides colour and position behind its position embeddings, and the short warm-up then
    learns the language prior only; with these detectors as a start the model grounds its answers in a
    few hundred steps.
    """
    import torch

    emb = model.model.vision_tower.embeddings
    w = emb.patch_embedding.weight  # [hidden, 3, P, P]
    p = w.shape[-1]
    h = p // 2
    with torch.no_grad():
        k = 0
        for c in range(3):
            for qy in range(2):
                for qx in range(2):
                    w[k].zero_()
                    w[k, c, qy * h : (qy + 1) * h, qx * h : (qx + 1) * h] = 1.0 / (h * h)
                    k += 1
        for c in range(3):
            w[k].zero_()
            w[k, c] = 1.0 / (p * p)
            k += 1
        emb.position_embedding.weight.mul_(0.1)


def _warm_up(model, processor, template, recipe: TinyRecipe, corpus, *, progress: bool) -> None:
    """Supervised warm-up on answer tokens (prompt tokenised with BOS, answer with EOS), in two phases.

    Phase 1 (``curriculum_steps``): each batch row is a caption (``caption_share``) or an existence
    question answered "Yes" or "No" in equal shares (``balanced_pools``), half about a kind, half about a
    colour and kind. Phase 2 (``steps``): ``balanced_share`` of the rows as in phase 1, the rest from the
    whole corpus (every plugin's formats). Images are processed once and prompts tokenised once.
    """
    import torch

    from harness.policy.padding import expand_to_square
    from harness.progress import progress as progress_line

    tok = processor.tokenizer
    rng = random.Random(recipe.seed + 1)
    scenes = [recipe.scene(i) for i in range(recipe.scenes)]
    pools = [balanced_pools(sc) for sc in scenes]
    # the balanced existence questions: about the caption scenes, or about scenes of their own family
    q_offset = 0 if recipe.question_join is None else len(scenes)
    q_scenes = scenes if recipe.question_join is None else [recipe.question_scene(i) for i in range(recipe.scenes)]
    q_pools = pools if recipe.question_join is None else [balanced_pools(sc) for sc in q_scenes]
    mean = processor.image_processor.image_mean
    rendered = scenes if recipe.question_join is None else scenes + q_scenes
    pixels = processor.image_processor([expand_to_square(sc.render(), mean) for sc in rendered], return_tensors="pt")[
        "pixel_values"
    ]
    image_id = tok.convert_tokens_to_ids("<image>")
    n_image_tokens = (recipe.image_size // recipe.patch_size) ** 2
    prompt_cache: dict[tuple[str, bool], list[int]] = {}
    answer_cache: dict[str, list[int]] = {}

    def prompt_ids(ex: WarmupExample) -> list[int]:
        key = (ex.prompt, ex.with_image)
        if key not in prompt_cache:
            ids = tok(template.render(ex.prompt, with_image=ex.with_image))["input_ids"]
            prompt_cache[key] = [t for i in ids for t in ([i] * n_image_tokens if i == image_id else [i])]
        return prompt_cache[key]

    def answer_ids(ex: WarmupExample) -> list[int]:
        if ex.answer not in answer_cache:
            answer_cache[ex.answer] = tok(template.render_answer(ex.answer), add_special_tokens=False)["input_ids"] + [
                tok.eos_token_id
            ]
        return answer_cache[ex.answer]

    def balanced(caption_share: float) -> tuple[int, WarmupExample]:
        r = rng.random()
        if r < caption_share:
            i = rng.randrange(len(scenes))
            return i, rng.choice(pools[i].captions)
        answer_yes = r < caption_share + (1 - caption_share) / 2
        by_kind = rng.random() < 0.5
        while True:
            i = rng.randrange(len(q_scenes))
            pool: BalancedPools = q_pools[i]
            if answer_yes:
                choices = pool.yes if by_kind else pool.yes_color
            else:
                choices = pool.no if by_kind else pool.no_color
            if choices:
                return q_offset + i, rng.choice(choices)

    tower_features = None
    if not recipe.train_vision:  # the frozen tower's patch features, once for every scene
        config = model.config
        with torch.no_grad():
            hidden = [
                model.model.vision_tower(pixel_values=pixels[k : k + 256], output_hidden_states=True).hidden_states[
                    config.vision_feature_layer
                ]
                for k in range(0, len(pixels), 256)
            ]
        assert config.vision_feature_select_strategy == "default"
        tower_features = torch.cat(hidden)[:, 1:]  # LLaVA's "default" selection drops the CLS token
    params = [p for p in model.parameters() if p.requires_grad]
    ids = {id(p) for p in model.model.multi_modal_projector.parameters()}
    projector_lr = recipe.lr * recipe.projector_lr_scale
    optim = torch.optim.AdamW(
        [
            {"params": [p for p in params if id(p) not in ids], "lr": recipe.lr},
            {"params": [p for p in params if id(p) in ids], "lr": projector_lr},
        ],
        weight_decay=0.0,
    )
    total = recipe.total_steps
    sched = torch.optim.lr_scheduler.LambdaLR(optim, lambda s: min(1.0, (s + 1) / 20) * max(0.05, 1 - s / total))
    model.train()
    with progress_line("warming up the tiny model", total, disable=not progress) as bar:
        for step in range(total):
            batch = []
            for _ in range(recipe.batch_size):
                if step < recipe.curriculum_steps:
                    batch.append(balanced(recipe.caption_share))
                elif recipe.balanced_share and rng.random() < recipe.balanced_share:
                    batch.append(balanced(0.0))
                else:
                    batch.append(corpus[rng.randrange(len(corpus))])
            batch.sort(key=lambda b: not b[1].with_image)  # image rows first: pixel_values follow their order
            with_img = [i for i, ex in batch if ex.with_image]
            pixel_values = pixels[with_img] if with_img else None
            rows = [prompt_ids(ex) + answer_ids(ex) for _, ex in batch]
            labels = [[-100] * len(prompt_ids(ex)) + answer_ids(ex) for _, ex in batch]
            width = max(len(r) for r in rows)
            input_ids = torch.full((len(rows), width), tok.pad_token_id)
            lab = torch.full((len(rows), width), -100)
            att = torch.zeros((len(rows), width), dtype=torch.long)
            for j, (r, lb) in enumerate(zip(rows, labels)):
                input_ids[j, : len(r)] = torch.tensor(r)
                lab[j, : len(lb)] = torch.tensor(lb)
                att[j, : len(r)] = 1
            if tower_features is None:
                out = model(input_ids=input_ids, attention_mask=att, pixel_values=pixel_values, labels=lab)
            else:  # a frozen tower's features were computed once; the projector still trains
                embeds = model.get_input_embeddings()(input_ids)
                if with_img:
                    projected = model.model.multi_modal_projector(tower_features[with_img])
                    mask = (input_ids == image_id).unsqueeze(-1).expand_as(embeds)
                    embeds = embeds.masked_scatter(mask, projected.to(embeds.dtype))
                out = model(inputs_embeds=embeds, attention_mask=att, labels=lab)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optim.step()
            sched.step()
            optim.zero_grad(set_to_none=True)
            bar.advance()
    model.eval()
