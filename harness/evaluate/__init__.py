"""The engine behind ``harness eval``: generate predictions with a policy, score them, store results.json.

``evaluate`` runs one (model, benchmark) pair:

1. every numeric option is checked, then the benchmark comes from the plugin registry (an unknown
   name lists the registered ones);
2. for a judged benchmark the judge credentials are checked and the judge client is built first,
   so a missing key fails before any loading or generation;
3. items are loaded (``Benchmark.load``; errors name the file and id); ``--limit N`` keeps the first N;
4. the result's identity is computed (harness/report/results.py: model, benchmark, protocol, items):
   a stored result with the same identity is reused, one with another identity is never replaced;
5. predictions are read from a file in the benchmark's official format, reused when this model already
   generated them for these items, or generated with the policy in journaled chunks (a killed run resumes
   at its first unfinished chunk, and only the chunk's images are held) and written in that format next
   to the results *before* scoring, so a crash while scoring keeps them;
6. ``Benchmark.score`` (judge × runs) gives metrics, per-run values, failures and per-item records. A
   complete score is written atomically as results.json (``results.limit<N>.json`` for a smoke run); an
   incomplete one (judgements that never came back) goes to ``results.partial.json`` beside it, the
   stored result stays byte-identical, and ``IncompleteResultError`` says how many are missing and
   that rerunning the same command asks the judge only for those.

``pending_models`` lists what ``harness eval`` without ``--model`` still has to score: every θi of the
stored runs, then each base model θ0 once. ``results_path`` says where a model's results go.

Modules: run.py (``evaluate``), models.py (which model, where results go, what is pending),
generate.py (items and journaled generation), dry_run.py (``--dry-run`` counts), output.py (printing,
output paths, the incomplete-result error), data_digest.py (the items' digest stored with a result),
rejudge.py (``harness rejudge``: stored predictions judged again by another judge).
"""

from harness.evaluate.dry_run import DryRunReport
from harness.evaluate.models import (
    DEFAULT_DATA_ROOT,
    DEFAULT_RESULTS_DIR,
    DEFAULT_RUNS_DIR,
    RESULTS_FILENAME,
    model_slug,
    pending_models,
    resolve_model,
    results_path,
    run_model_ref,
)
from harness.evaluate.output import IncompleteResultError
from harness.evaluate.run import evaluate

__all__ = [
    "DEFAULT_DATA_ROOT",
    "DEFAULT_RESULTS_DIR",
    "DEFAULT_RUNS_DIR",
    "RESULTS_FILENAME",
    "DryRunReport",
    "IncompleteResultError",
    "evaluate",
    "model_slug",
    "pending_models",
    "resolve_model",
    "results_path",
    "run_model_ref",
]
