"""What the built-in tiny model can do of what each method asks of it, on held-out scenes.

    python perf/tiny_abilities.py [--model tiny] [--scenes 100]

Greedy answers (hf backend) on scenes of the self-evolution images' family (``train`` namespace,
indices never used by a default run's first iterations), scored against the scene's truth:

- SENA p_base: the share of outputs that are well-formed questions (a question word first, one ``?``
  at the end, no format label) and, of all outputs, the share that are well-formed *and about the
  scene* (every shape kind and colour they name is in the scene);
- SENA p_sq (with the image, the paper; text-only, the release), fed each p_base output: the same two
  shares for the questions SENA's own extraction keeps (methods/sena/filters.py), and the share that
  keeps the question unchanged;
- SENA p_se on a description: the share answered in the ``Improved Answer:`` format;
- SeVa's question prompt: well-formed questions;
- describe: the share of exact captions; existence questions (half about present kinds, half absent):
  accuracy and the share answered "Yes".
"""

from __future__ import annotations

import argparse
import re

from methods.common.questions import well_formed  # the check sena's stats and the leaderboard use

FIRST_SCENE = 50_000  # far above the indices a default run draws


def about_scene(q: str, scene) -> bool:
    from harness.images.synthetic import COLORS, SHAPES

    words = set(re.findall(r"[a-z]+", q.lower()))
    kinds = {s.kind for s in scene.shapes}
    colors = {s.color for s in scene.shapes}
    return all(k in kinds for k in SHAPES if k in words) and all(c in colors for c in COLORS if c in words)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--scenes", type=int, default=100)
    args = parser.parse_args()

    from harness.backends.base import GenerationRequest
    from harness.backends.hf import HFBackend
    from harness.images.synthetic import SHAPES, make_scene
    from harness.policy.loading import load_policy, resolve_model_path
    from methods.sena import prompts as SP
    from methods.sena.filters import extract_questions
    from methods.sena.messages import first_image_message, sq_message
    from methods.seva import P_BASE as SEVA_BASE

    backend = HFBackend(load_policy(resolve_model_path(args.model)), batch_size=32, progress=False)
    scenes = [make_scene("train", FIRST_SCENE + i) for i in range(args.scenes)]
    images = [s.render() for s in scenes]
    n = len(scenes)

    def ask(prompts, max_new_tokens=48, with_image=True):
        return backend.generate(
            [
                GenerationRequest(
                    image=im if with_image else None, prompt=p, max_new_tokens=max_new_tokens, with_image=with_image
                )
                for im, p in zip(images, prompts)
            ]
        )

    rows = []
    base = ask([first_image_message(SP.P_BASE)] * n)
    rows.append(("SENA p_base: well-formed questions", sum(map(well_formed, base)) / n))
    rows.append(
        (
            "SENA p_base: well-formed, about the scene",
            sum(well_formed(q) and about_scene(q, s) for q, s in zip(base, scenes)) / n,
        )
    )
    for with_image in (True, False):
        out = ask([sq_message(q, with_image) for q in base], with_image=with_image)
        kept = [extract_questions(o)[0] for o in out]
        label = "with the image" if with_image else "text-only"
        rows.append((f"SENA p_sq ({label}): a question kept", sum(bool(k) for k in kept) / n))
        rows.append((f"SENA p_sq ({label}): well-formed", sum(bool(k) and all(map(well_formed, k)) for k in kept) / n))
        rows.append(
            (
                f"SENA p_sq ({label}): well-formed, about the scene",
                sum(bool(k) and all(well_formed(q) and about_scene(q, s) for q in k) for k, s in zip(kept, scenes)) / n,
            )
        )
        rows.append(
            (f"SENA p_sq ({label}): the p_base question kept unchanged", sum(k == [q] for k, q in zip(kept, base)) / n)
        )
    des_prompt = SP.P_DES[0] + SP.SUFFIX_DES
    described = ask([des_prompt] * n)
    se = ask([SP.fill_se(d, des_prompt, d) for d in described])
    rows.append(("SENA p_se: answered as 'Improved Answer: …'", sum(o.startswith(SP.IMPROVED_PREFIX) for o in se) / n))
    seva = ask([SEVA_BASE] * n)
    rows.append(("SeVa question prompt: well-formed questions", sum(map(well_formed, seva)) / n))
    captions = ask(["Describe the image."] * n)
    rows.append(("describe: the exact caption", sum(c.strip() == s.caption() for c, s in zip(captions, scenes)) / n))
    kinds = [SHAPES[i % len(SHAPES)] for i in range(n)]
    yes_no = ask([f"Is there a {k} in this image?" for k in kinds], max_new_tokens=4)
    truth = [k in {sh.kind for sh in s.shapes} for k, s in zip(kinds, scenes)]
    said = [o.strip().startswith("Yes") for o in yes_no]
    rows.append(("existence: accuracy", sum(a == b for a, b in zip(said, truth)) / n))
    rows.append(("existence: answered Yes (truth: %.0f %%)" % (100 * sum(truth) / n), sum(said) / n))
    print(f"| ability ({n} held-out scenes, {args.model}) | share |")
    print("|---|---|")
    for name, value in rows:
        print(f"| {name} | {100 * value:.0f} % |")


if __name__ == "__main__":
    main()
