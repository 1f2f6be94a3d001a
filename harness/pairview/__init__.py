"""The pair viewer (`harness inspect`): one static HTML page per iteration of a run, opened from disk.

Each pair shows its image (and the noised image beside it where the method used one), the question,
the chosen and rejected answers, what the method recorded of it (scores, flags, the branch that made
it), and its truth audit; the page filters (audit verdict, kind, the method's own labels, text) and
pages through thousands of pairs with a small script over JSON embedded in the page.

- run_files.py  reading one finished iteration strictly (bad input: a clear message, nothing written)
- pictures.py   the clean and the reproduced noised images, as PNG files beside the page
- records.py    the page's data: header and one record per pair
- page.py       the HTML (viewer.js, viewer.css inline; model-written text never becomes markup)
- build.py      where the pages go and how they are written

Named ``pairview`` rather than ``inspect``, which would shadow the standard library's ``inspect`` for a
script run from inside ``harness/``.
"""

from harness.pairview.build import Written, default_out, inspect_run

__all__ = ["Written", "default_out", "inspect_run"]
