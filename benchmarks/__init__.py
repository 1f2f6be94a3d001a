"""Built-in benchmarks, each registered as a `harness` plugin.

One package per benchmark (``benchmarks/<name>/``: the plugin in ``benchmark.py``, its own helpers
beside it); code that several benchmarks use is in ``benchmarks/common/``. The modules of the old
flat layout (``benchmarks/amber_nlp.py`` …) still import, as the module that now holds their code,
with a ``DeprecationWarning`` naming the new path (:data:`MOVED`, harness/moved.py).
"""

from harness.moved import install

# Old module path → the module that now holds its code (for a split module: the one that holds most of it).
MOVED = {
    "benchmarks.amber_data": "benchmarks.amber.data",
    "benchmarks.amber_discriminative": "benchmarks.common.yes_no",
    "benchmarks.amber_generative": "benchmarks.amber.generative",
    "benchmarks.amber_nlp": "benchmarks.amber.nlp",
    "benchmarks.amber_scoring": "benchmarks.amber.scoring",
    "benchmarks.amber_similarity": "benchmarks.amber.similarity",
    "benchmarks.chair_coco": "benchmarks.common.coco_truth",
    "benchmarks.chair_data": "benchmarks.chair.data",
    "benchmarks.chair_nlp": "benchmarks.common.caption_normalisers",
    "benchmarks.chair_scoring": "benchmarks.common.caption_scoring",
    "benchmarks.chair_vocab": "benchmarks.common.coco_vocab",
    "benchmarks.judged_runs": "benchmarks.common.judged_runs",
    "benchmarks.llava_wild_prompts": "benchmarks.llava_wild.prompts",
    "benchmarks.mmbench_circular": "benchmarks.mmbench.circular",
    "benchmarks.mmbench_extract": "benchmarks.mmbench.extract",
    "benchmarks.mmhal_prompts": "benchmarks.mmhal.prompts",
    "benchmarks.mmvet_prompts": "benchmarks.mmvet.prompts",
    "benchmarks.objhal_data": "benchmarks.objhal.data",
    "benchmarks.objhal_llm": "benchmarks.objhal.llm",
    "benchmarks.pope_data": "benchmarks.pope.data",
    "benchmarks.pope_parse": "benchmarks.pope.parse",
}

install(MOVED)
