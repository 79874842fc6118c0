"""The book's exercises: the checks that end them, and the generator of the student notebooks.

One module per exercise, named after its notebook ``solutions/NN_exercise_<name>.ipynb``: ``ndcg``,
``control``, ``kd_step``, ``ranking_distillation``, ``temperature`` (``pick_temperature``),
``int8_rows``, ``global_pruning``, ``break_even``, ``qr_embedding``, ``honest_comparison``, ``ratios``,
``fair_benchmark``, ``paired_bootstrap``, ``popularity_share``, ``compact_labels``, ``amdahl``,
``equal_budget``, ``teacher_subset``. A notebook imports its check, e.g.
``from tinyrec.exercises.ndcg import check_ndcg``.

Every check follows one pattern, and is handed everything it needs (the learner's code and, when the
exercise uses one, the split or the teacher). It runs the learner's code on a few hand-picked cases and
compares the result with the library (:mod:`tinyrec.metrics`, :mod:`tinyrec.distill`,
:mod:`tinyrec.quantize`, :mod:`tinyrec.prune`, :mod:`tinyrec.evaluate`). When they differ, it computes
what each *known mistake* would have returned on the same case — each mistake written with the library
too, so nothing here re-implements it — and names the one that matches:
``AssertionError("Case '<case>': <call>\\n<what is wrong>\\nHint: <hint>")``. A correct answer gets
"Correct! ..." and the list of cases it passed. The exercise's stub, ``raise NotImplementedError``,
propagates unchanged. :mod:`tinyrec.exercises._core` holds what the checks share (among it,
:func:`~tinyrec.exercises._core.measurement_of`, which tells what a reported "validation NDCG@10" measures).

:mod:`tinyrec.exercises.generate` writes the student notebooks from the solution notebooks and the
course edition of the book (``python -m tinyrec.exercises``). Nothing else in :mod:`tinyrec` imports
this package.
"""
