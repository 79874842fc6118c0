"""tinyrec: the shared code of the book *Tiny Recommenders*.

Layers, each importing only from those above it in this list:

* ``config`` — seed, cache, data and record locations (``TINYREC_*``); ``seed_everything``;
* ``data`` — MovieLens-100k and the split; ``models`` — popularity, BPR-MF, EASE;
* ``metrics`` — ranking metrics and bootstrap intervals; ``evaluate`` — the evaluation protocol;
* ``distill``, ``quantize``, ``prune``, ``share`` — the techniques, as pure functions and modules;
* ``train`` — the training loop; ``cache`` and ``recipes`` — the book's cached models and chosen settings;
* ``measure`` — bytes, latency, ratios, trade-offs, the Pareto front; ``plots`` — shared figures;
* ``expect`` — expected ranges; ``exercises`` — the exercises' checks and the notebook generator
  (nothing above imports it).
"""

from tinyrec.config import seed_everything

__all__ = ["seed_everything"]
