"""Built-in self-evolution methods, each registered as a `harness` plugin."""

from harness.moved import install

# Modules that moved when each method got its own package; the old names still import, with a
# DeprecationWarning naming the new path (harness/moved.py).
MOVED = {
    "methods.sena_filters": "methods.sena.filters",
    "methods.sena_prompts": "methods.sena.prompts",
    "methods.sena_tables": "methods.sena.tables",
    "methods.sena_warmup": "methods.sena.warmup",
    "methods.clip_mixing": "methods.clip_filter.mixing",
    "methods.csr_search": "methods.csr.search",
    "methods.stic_prompts": "methods.stic.prompts",
    "methods.pair_tools": "methods.common.pairs",
}

install(MOVED)
