"""tinyrec: the shared code of the book *Tiny Recommenders*.

One module per idea: ``data`` (MovieLens-100k, splits), ``metrics`` (ranking metrics),
``models`` (popularity, BPR-MF, EASE), ``train`` (training loops, seeding, checkpoint cache),
``expect`` (ranges the measured numbers must stay in), ``measure`` (sizes, ratios),
``exercises`` (the student-notebook generator), ``checks`` (the exercises' checks).
"""

from tinyrec.train import seed_everything

__all__ = ["seed_everything"]
