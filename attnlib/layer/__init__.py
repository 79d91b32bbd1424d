"""Tests at the tested attention layer: erasure and renormalisation, the rankings,
the single- and multi-weight suite and its result table (the paper's tests), and the
follow-up tests that reweight the same layer (agreement, permutation, adversarial
attention with the first single-start and the multi-start search, seed variance). Explained in the chapters "Single-weight tests",
"Multi-weight tests" and "Other tests of attention".
"""
