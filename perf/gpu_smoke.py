"""GPU smoke test at paper scale: a LLaVA-1.5-7B-shaped model, random weights, no downloads.

Builds ``LlavaForConditionalGeneration`` from a config with LLaVA-1.5-7B's shapes (CLIP ViT-L/14 at
336 px, 576 image tokens, a 2-layer GELU projector, Llama-2-7B: 32 layers, hidden 4096, MLP 11008,
vocabulary 32064) with random weights in bf16 on one GPU, then measures:

1. batched greedy generation throughput at batch 1 and 64 (new tokens forced to a fixed count);
2. the reference pass: summed answer log-probs of preference pairs (chosen and rejected), tokens/s;
3. a few DPO steps with LoRA (r 128, α 256, every linear layer of the LLM, gradient checkpointing,
   AdamW): the DPO loss is written out here (−log σ(β·((π_c − ref_c) − (π_r − ref_r))), the reference
   being the same model with the adapter disabled), since this script must run where TRL is absent;

and prints tokens/s, s/step and the peak GPU memory of each part, then a projection of one SENA
iteration (6,000 images, SENA's ~8 generations per image) from the measured rates. Needs only torch,
transformers and peft (no trl, diffusers, openai or harness import). ``--tiny`` runs the same code
with a tiny config on the CPU (a check that the script works, not a measurement).

    python perf/gpu_smoke.py [--tiny] [--new-tokens 128] [--dpo-steps 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time


def llava_config(tiny: bool):
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig

    if tiny:
        text = LlamaConfig(
            vocab_size=320,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=4,
            max_position_embeddings=512,
        )
        vision = CLIPVisionConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            image_size=56,
            patch_size=14,
            projection_dim=32,
        )
        return LlavaConfig(
            vision_config=vision,
            text_config=text,
            image_token_index=300,
            image_seq_length=16,
            vision_feature_layer=-2,
            vision_feature_select_strategy="default",
        )
    # LLaVA-1.5-7B (llava-hf/llava-1.5-7b-hf config.json): CLIP ViT-L/14-336 + Vicuna-7B (Llama-2-7B shapes)
    text = LlamaConfig(
        vocab_size=32064,
        hidden_size=4096,
        intermediate_size=11008,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=32,
        max_position_embeddings=4096,
        rms_norm_eps=1e-5,
    )
    vision = CLIPVisionConfig(
        hidden_size=1024,
        intermediate_size=4096,
        num_hidden_layers=24,
        num_attention_heads=16,
        image_size=336,
        patch_size=14,
        projection_dim=768,
    )
    return LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=32000,
        image_seq_length=576,
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
    )


def prompt_ids(config, batch: int, text_tokens: int, generator, device):
    """[BOS, text…, <image>×N, text…] with random text token ids (no tokenizer needed)."""
    import torch

    vocab = config.text_config.vocab_size
    n_img = config.image_seq_length
    low = 3
    high = min(config.image_token_index, vocab) - 1
    head = torch.randint(low, high, (batch, 4), generator=generator)
    tail = torch.randint(low, high, (batch, text_tokens), generator=generator)
    image = torch.full((batch, n_img), config.image_token_index)
    bos = torch.full((batch, 1), 1)
    return torch.cat([bos, head, image, tail], dim=1).to(device)


def pixels(config, batch: int, generator, device, dtype):
    import torch

    side = config.vision_config.image_size
    return torch.randn(batch, 3, side, side, generator=generator).to(device, dtype)


def peak_gib(device) -> float:
    import torch

    return torch.cuda.max_memory_allocated() / 1024**3 if device.type == "cuda" else float("nan")


def reset_peak(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def generation(model, config, device, dtype, batch: int, new_tokens: int) -> dict:
    import torch

    g = torch.Generator().manual_seed(batch)
    ids = prompt_ids(config, batch, 40, g, device)
    pix = pixels(config, batch, g, device, dtype)
    reset_peak(device)
    kwargs = dict(max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False, pad_token_id=0)
    with torch.inference_mode():
        model.generate(
            input_ids=ids[:, : 8 + config.image_seq_length],
            pixel_values=pix,
            attention_mask=torch.ones_like(ids[:, : 8 + config.image_seq_length]),
            max_new_tokens=2,
            do_sample=False,
            pad_token_id=0,
        )  # warm-up
        sync(device)
        t0 = time.perf_counter()
        out = model.generate(input_ids=ids, pixel_values=pix, attention_mask=torch.ones_like(ids), **kwargs)
        sync(device)
    wall = time.perf_counter() - t0
    made = (out.shape[1] - ids.shape[1]) * batch
    return {
        "batch": batch,
        "prompt_tokens": int(ids.shape[1]),
        "new_tokens": made,
        "seconds": round(wall, 3),
        "tokens_per_s": round(made / wall, 1),
        "peak_gib": round(peak_gib(device), 2),
    }


def sequences(config, pairs: int, answer: int, g, device):
    """Chosen then rejected rows: prompt + answer, with the answer mask."""
    import torch

    prompt = prompt_ids(config, 2 * pairs, 40, g, device)
    high = min(config.image_token_index, config.text_config.vocab_size) - 1
    ans = torch.randint(3, high, (2 * pairs, answer), generator=g).to(device)
    ids = torch.cat([prompt, ans], dim=1)
    mask = torch.zeros_like(ids)
    mask[:, prompt.shape[1] :] = 1
    return ids, mask


def answer_logps(model, ids, mask, pix):
    """Summed log-probs of the answer tokens, one per row (computed in chunks of rows: no B×T×V fp32)."""
    import torch

    out = model(input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values=pix, use_cache=False)
    logits = out.logits[:, :-1]
    target = ids[:, 1:]
    m = mask[:, 1:].to(torch.float32)
    lp = torch.log_softmax(logits.float(), dim=-1).gather(-1, target.unsqueeze(-1)).squeeze(-1)
    return (lp * m).sum(dim=1)


def reference(model, config, device, dtype, pairs: int, answer: int, batches: int) -> dict:
    import torch

    g = torch.Generator().manual_seed(7)
    reset_peak(device)
    tokens, wall = 0, 0.0
    with torch.inference_mode():
        for k in range(batches + 1):
            ids, mask = sequences(config, pairs, answer, g, device)
            pix = pixels(config, pairs, g, device, dtype).repeat(2, 1, 1, 1)
            sync(device)
            t0 = time.perf_counter()
            answer_logps(model, ids, mask, pix)
            sync(device)
            if k:  # the first batch warms up
                wall += time.perf_counter() - t0
                tokens += ids.numel()
    return {
        "pairs_per_batch": pairs,
        "sequence_tokens": int(ids.shape[1]),
        "tokens_per_s": round(tokens / wall, 1),
        "s_per_pair": round(wall / (batches * pairs), 4),
        "peak_gib": round(peak_gib(device), 2),
    }


def dpo_lora(
    model, config, device, dtype, pairs: int, answer: int, steps: int, r: int, beta: float = 0.1, lr: float = 2e-6
) -> dict:
    import torch
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(
        r=r,
        lora_alpha=2 * r,
        lora_dropout=0.0,
        target_modules=r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)",
    )
    if hasattr(model, "activation_checkpointing_enable"):  # transformers ≥ 5.2x
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.enable_input_require_grads()
    peft_model = get_peft_model(model, lora)
    for name, p in peft_model.named_parameters():
        if "lora_" in name:
            p.data = p.data.float()  # fp32 adapters over the bf16 base, as PEFT keeps them in training
    params = [p for p in peft_model.parameters() if p.requires_grad]
    trainable = sum(p.numel() for p in params)
    opt = torch.optim.AdamW(params, lr=lr)
    g = torch.Generator().manual_seed(11)
    reset_peak(device)
    times, losses = [], []
    peft_model.train()
    for step in range(steps + 1):
        ids, mask = sequences(config, pairs, answer, g, device)
        pix = pixels(config, pairs, g, device, dtype).repeat(2, 1, 1, 1)
        sync(device)
        t0 = time.perf_counter()
        with torch.no_grad(), peft_model.disable_adapter():
            ref = answer_logps(peft_model, ids, mask, pix)
        with torch.autocast(device.type, dtype=dtype, enabled=device.type == "cuda"):
            pol = answer_logps(peft_model, ids, mask, pix)
        margin = (pol[:pairs] - ref[:pairs]) - (pol[pairs:] - ref[pairs:])
        loss = -torch.nn.functional.logsigmoid(beta * margin).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        sync(device)
        if step:  # the first step warms up
            times.append(time.perf_counter() - t0)
        losses.append(round(loss.item(), 5))
    return {
        "pairs_per_step": pairs,
        "lora_r": r,
        "trainable": trainable,
        "steps": steps,
        "s_per_step": round(sum(times) / len(times), 3),
        "losses": losses,
        "peak_gib": round(peak_gib(device), 2),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="tiny config on the CPU: checks the script, measures nothing")
    ap.add_argument("--new-tokens", type=int, default=None)
    ap.add_argument("--batches", type=int, nargs="+", default=None)
    ap.add_argument("--dpo-steps", type=int, default=None)
    ap.add_argument("--json", default=None, help="also write the figures to this file")
    args = ap.parse_args(argv)

    import torch
    from transformers import LlavaForConditionalGeneration

    cuda = torch.cuda.is_available() and not args.tiny
    if not cuda and not args.tiny:
        print("no CUDA device: run with --tiny for the CPU check", file=sys.stderr)
        return 2
    device = torch.device("cuda" if cuda else "cpu")
    dtype = torch.bfloat16 if cuda else torch.float32
    new_tokens = args.new_tokens or (128 if cuda else 4)
    batches = args.batches or ([1, 64] if cuda else [1, 4])
    steps = args.dpo_steps or (5 if cuda else 2)
    torch.manual_seed(0)
    config = llava_config(args.tiny)
    t0 = time.perf_counter()
    with torch.device(device):
        model = LlavaForConditionalGeneration._from_config(config, dtype=dtype)
    model.eval()
    n_params = sum(p.numel() for p in model.parameters())
    report = {
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "dtype": str(dtype).replace("torch.", ""),
        "parameters": n_params,
        "image_tokens": config.image_seq_length,
        "build_s": round(time.perf_counter() - t0, 1),
        "torch": torch.__version__,
    }
    print(
        f"model: {n_params / 1e9:.2f}B parameters, {report['dtype']}, {config.image_seq_length} image tokens, "
        f"built in {report['build_s']} s on {report['device']}",
        flush=True,
    )
    report["generation"] = []
    for b in batches:
        r = generation(model, config, device, dtype, b, new_tokens)
        report["generation"].append(r)
        print(
            f"generation batch {b:>3}: {r['tokens_per_s']:>9.1f} new tokens/s ({r['new_tokens']} tokens in "
            f"{r['seconds']} s, prompt {r['prompt_tokens']} tokens), peak {r['peak_gib']} GiB",
            flush=True,
        )
    answer = 128 if cuda else 8
    r = reference(model, config, device, dtype, pairs=8 if cuda else 2, answer=answer, batches=4 if cuda else 1)
    report["reference"] = r
    print(
        f"reference pass: {r['tokens_per_s']:.1f} tokens/s, {r['s_per_pair']} s/pair "
        f"({r['sequence_tokens']} tokens per sequence), peak {r['peak_gib']} GiB",
        flush=True,
    )
    r = dpo_lora(
        model,
        config,
        device,
        dtype,
        pairs=2 if cuda else 1,
        answer=answer,
        steps=steps,
        r=128 if cuda else 4,
        lr=2e-6 if cuda else 1e-2,
    )  # tiny: a step big enough to see in the loss
    report["dpo_lora"] = r
    print(
        f"DPO + LoRA r{r['lora_r']} ({r['trainable'] / 1e6:.1f}M trainable, {r['pairs_per_step']} pairs/step, "
        f"gradient checkpointing): {r['s_per_step']} s/step, losses {r['losses']}, peak {r['peak_gib']} GiB",
        flush=True,
    )
    # one SENA iteration: 6,000 images × ~8 generations (p_base, p_sq, 2 clean + 2 noised answers, 2 p_se)
    gens = 6000 * 8
    best = max(report["generation"], key=lambda x: x["tokens_per_s"])
    gen_s = gens * new_tokens / best["tokens_per_s"]
    ref_s = 6000 * report["reference"]["s_per_pair"]
    train_s = math.ceil(6000 / 128) * (128 / report["dpo_lora"]["pairs_per_step"]) * report["dpo_lora"]["s_per_step"]
    report["projection_one_sena_iteration_s"] = {
        "generation": round(gen_s),
        "reference": round(ref_s),
        "training_lora": round(train_s),
    }
    print(
        f"projection, one SENA iteration on this one GPU (6,000 images, {gens} generations of {new_tokens} tokens "
        f"at batch {best['batch']}; HF generate, not vLLM): generation {gen_s / 3600:.1f} h, reference "
        f"{ref_s / 60:.0f} min, LoRA DPO {train_s / 3600:.1f} h (estimates)",
        flush=True,
    )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
