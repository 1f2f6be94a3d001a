"""The built-in ``tiny`` model: a LLaVA-architecture model built fully offline, deterministically.

Steps (seeded; about 70 s on 2 CPU cores, once, then cached):
1. Warm-up corpus: instruction examples over synthetic shape scenes, from the built-in tasks and
   every plugin's ``harness_warmup_tasks`` (harness/policy/warmup_tasks.py).
2. Tokenizer: a byte-level BPE trained on that corpus with ``tokenizers``.
3. Model: ``LlavaForConditionalGeneration`` with a small CLIP vision tower (32 px, patch 8: 16
   image tokens) and a small Llama, seeded initialisation.
4. Warm-up: a short supervised run on the corpus (answer tokens only), rendered with the
   ``llava_v1`` template exactly as generation renders it, so greedy decoding reproduces the formats.
5. ``save_pretrained`` of model and ``LlavaProcessor`` into
   ``<cache>/models/tiny-<fingerprint>``, written to a temporary folder and renamed.

The fingerprint hashes the recipe and the corpus, so a change of either builds a new model.
Its answers are only weakly grounded in the image (``shapes`` benchmark: CHAIR 73, Cover 17, and its
existence answers are always "Yes"), but they do depend on it: diffusion noise at t = 500 / 600 / 800 changes
5 % / 26 % / 54 % of its descriptions, so the noise-pair methods find pairs. The model is for
running the whole pipeline offline and testing it, not for quality claims.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.images.synthetic import make_scene
from harness.policy.templates import get_template
from harness.policy.warmup_tasks import BUILTIN_TASKS, WarmupExample, WarmupTask

RECIPE_VERSION = 2
SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>", "<image>"]
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class TinyRecipe:
    seed: int = 0
    scenes: int = 1500
    vocab_size: int = 1024
    image_size: int = 32
    patch_size: int = 8
    vision_hidden: int = 64
    text_hidden: int = 128
    text_layers: int = 2
    heads: int = 4
    max_positions: int = 1024
    steps: int = 400
    batch_size: int = 16
    lr: float = 1e-3  # 3e-3, or a 10x projector rate, collapses to one caption whatever the image
    projector_lr_scale: float = 1.0
    template: str = "llava_v1"


def default_cache_root() -> Path:
    """``$HARNESS_CACHE_DIR`` if set, else the user cache folder (both read at call time)."""
    import os

    import platformdirs

    env = os.environ.get("HARNESS_CACHE_DIR")
    return Path(env) if env else Path(platformdirs.user_cache_dir("harness"))


def build_corpus(recipe: TinyRecipe, tasks: list[WarmupTask]) -> list[tuple[int, WarmupExample]]:
    """(scene index, example) pairs from every task, deterministic in the recipe's seed."""
    rng = random.Random(recipe.seed)
    corpus = []
    for i in range(recipe.scenes):
        scene = make_scene("tiny-warmup", i)
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


def ensure_tiny(cache_root: Path | None = None, *, recipe: TinyRecipe | None = None,
                extra_tasks: list[WarmupTask] | None = None, progress: bool = True) -> Path:
    """The folder of the tiny model for this recipe and corpus, built on first use."""
    recipe = recipe or TinyRecipe()
    tasks = collect_tasks(extra_tasks)
    corpus = build_corpus(recipe, tasks)
    root = Path(cache_root) if cache_root is not None else default_cache_root()
    target = root / "models" / f"tiny-{fingerprint(recipe, corpus)}"
    return build_once(target, lambda tmp: build_tiny(tmp, recipe, corpus, progress=progress))


def build_once(target: Path, build) -> Path:
    """Build a model folder at ``target`` unless it exists: ``build(tmp)`` writes into a temporary
    sibling folder, which is then renamed, so a killed build never leaves a half-written model and
    concurrent builders keep whichever finished first."""
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-build-", dir=target.parent))
    try:
        build(tmp)
        try:
            os.rename(tmp, target)
        except OSError:  # another process finished first: keep theirs
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _train_tokenizer(recipe: TinyRecipe, texts: list[str]):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=recipe.vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    bos = tok.token_to_id("<s>")
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>", extra_special_tokens={"image_token": "<image>"})


def build_tiny(out_dir: Path, recipe: TinyRecipe, corpus: list[tuple[int, WarmupExample]], *, progress: bool = True) -> None:
    template = get_template(recipe.template)
    processor = make_processor(recipe, corpus)
    model = make_model(recipe, processor.tokenizer)
    _warm_up(model, processor, template, recipe, corpus, progress=progress)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    (out_dir / "harness_tiny.json").write_text(json.dumps({"recipe": asdict(recipe), "examples": len(corpus)}, indent=2))


def make_processor(recipe: TinyRecipe, corpus: list[tuple[int, WarmupExample]]):
    """A ``LlavaProcessor``: a byte-level BPE trained on the corpus (as rendered for generation) and a
    CLIP image processor at the recipe's resolution."""
    from transformers import CLIPImageProcessorPil, LlavaProcessor

    template = get_template(recipe.template)
    texts = [template.render(ex.prompt, with_image=ex.with_image) + template.render_answer(ex.answer) for _, ex in corpus]
    tokenizer = _train_tokenizer(recipe, texts)
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": recipe.image_size}, crop_size={"height": recipe.image_size, "width": recipe.image_size},
        image_mean=list(CLIP_MEAN), image_std=list(CLIP_STD), do_convert_rgb=True,
    )
    return LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=recipe.patch_size,
                          vision_feature_select_strategy="default", num_additional_image_tokens=1)


def make_model(recipe: TinyRecipe, tokenizer):
    """A seeded, untrained ``LlavaForConditionalGeneration`` of the recipe's size, with the colour
    patch embedding and a frozen vision tower (as LLaVA freezes CLIP)."""
    import torch
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

    n_image_tokens = (recipe.image_size // recipe.patch_size) ** 2
    torch.manual_seed(recipe.seed)
    vision = CLIPVisionConfig(image_size=recipe.image_size, patch_size=recipe.patch_size, hidden_size=recipe.vision_hidden,
                              intermediate_size=2 * recipe.vision_hidden, num_hidden_layers=2,
                              num_attention_heads=recipe.heads, projection_dim=recipe.vision_hidden)
    text = LlamaConfig(vocab_size=len(tokenizer), hidden_size=recipe.text_hidden, intermediate_size=2 * recipe.text_hidden,
                       num_hidden_layers=recipe.text_layers, num_attention_heads=recipe.heads,
                       num_key_value_heads=recipe.heads, max_position_embeddings=recipe.max_positions,
                       bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                       pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True)
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
                         image_seq_length=n_image_tokens, vision_feature_layer=-2,
                         vision_feature_select_strategy="default", tie_word_embeddings=True)
    model = LlavaForConditionalGeneration(config)
    _colour_patch_embedding(model)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    return model


def _colour_patch_embedding(model) -> None:
    """Give the (frozen) vision tower colour detectors: each of the first 12 channels averages one colour
    channel over one quadrant of a patch, the next 3 over the whole patch; the rest stay random.

    A random tower hides colour and position behind its position embeddings, and the short warm-up then
    learns the language prior only; with these detectors the model grounds its answers in a few hundred
    steps. The tower stays frozen during the warm-up (as LLaVA freezes CLIP).
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
                    w[k, c, qy * h:(qy + 1) * h, qx * h:(qx + 1) * h] = 1.0 / (h * h)
                    k += 1
        for c in range(3):
            w[k].zero_()
            w[k, c] = 1.0 / (p * p)
            k += 1
        emb.position_embedding.weight.mul_(0.1)
    for param in model.model.vision_tower.parameters():
        param.requires_grad_(False)


def _warm_up(model, processor, template, recipe: TinyRecipe, corpus, *, progress: bool) -> None:
    """Supervised warm-up on answer tokens (prompt tokenised with BOS, answer with EOS)."""
    import torch

    from harness.images.synthetic import make_scene
    from harness.policy.padding import expand_to_square

    tok = processor.tokenizer
    rng = random.Random(recipe.seed + 1)
    projector = [p for p in model.model.multi_modal_projector.parameters()]
    ids = {id(p) for p in projector}
    rest = [p for p in model.parameters() if p.requires_grad and id(p) not in ids]
    optim = torch.optim.AdamW([{"params": rest, "lr": recipe.lr},
                               {"params": projector, "lr": recipe.lr * recipe.projector_lr_scale}], weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(optim, lambda s: min(1.0, (s + 1) / 20) * max(0.05, 1 - s / recipe.steps))
    model.train()
    from rich.progress import Progress

    threads = torch.get_num_threads()
    torch.set_num_threads(min(threads, 2))  # more threads only add overhead on these tiny matrices

    with Progress(transient=True, disable=not progress) as bar:
        task = bar.add_task("warming up the tiny model", total=recipe.steps)
        for _ in range(recipe.steps):
            batch = [corpus[rng.randrange(len(corpus))] for _ in range(recipe.batch_size)]
            batch.sort(key=lambda b: not b[1].with_image)  # image rows first: pixel_values follow their order
            with_img = [b for b in batch if b[1].with_image]
            pixel_values = None
            prompt_ids: list[list[int]] = []
            if with_img:
                images = [expand_to_square(make_scene("tiny-warmup", i).render(), processor.image_processor.image_mean)
                          for i, _ in with_img]
                enc = processor(images=images, text=[template.render(ex.prompt) for _, ex in with_img],
                                return_tensors="pt", padding=True, padding_side="right")
                pixel_values = enc["pixel_values"]
                prompt_ids += [enc["input_ids"][j][enc["attention_mask"][j].bool()].tolist() for j in range(len(with_img))]
            prompt_ids += [tok(template.render(ex.prompt, with_image=False))["input_ids"]
                           for _, ex in batch[len(with_img):]]
            ans = [tok(template.render_answer(ex.answer), add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
                   for _, ex in batch]
            rows = [p + a for p, a in zip(prompt_ids, ans)]
            labels = [[-100] * len(p) + a for p, a in zip(prompt_ids, ans)]
            width = max(len(r) for r in rows)
            ids = torch.full((len(rows), width), tok.pad_token_id)
            lab = torch.full((len(rows), width), -100)
            att = torch.zeros((len(rows), width), dtype=torch.long)
            for j, (r, l) in enumerate(zip(rows, labels)):
                ids[j, :len(r)] = torch.tensor(r)
                lab[j, :len(l)] = torch.tensor(l)
                att[j, :len(r)] = 1
            out = model(input_ids=ids, attention_mask=att, pixel_values=pixel_values, labels=lab)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optim.step()
            sched.step()
            optim.zero_grad(set_to_none=True)
            bar.advance(task)
    torch.set_num_threads(threads)
    model.eval()
