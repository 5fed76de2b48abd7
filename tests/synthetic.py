"""Synthetic signing shared by the tests of lexicon, matching, assembly, rendering and gloss2pose: a seated upper body
whose wrists circle, a small lexicon of such signs, a gloss-time table and an offline stand-in for a sentence-embedding
model. Not a test module (pytest collects only test_*.py); the test files import it from this folder."""
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from t2g2p2s.lexicon import LexiconWriter

W, H = 1280, 720
LH, RH = slice(95, 116), slice(116, 137)
GLOSSES = ["HAUS1A", "HAUS1B", "HAUS3B", "HAUS", "GEHEN1", "REGEN1", "KÜHL1B", "$NUM-EINER1A:1", "$NUM-EINER1A:2",
           "WOLKE2", "NACHT1B", "SCHNEE2A", "NORD1A"]


def signer(T: int, phase: float = 0.0, scale: float = 1.0, shift=(0.0, 0.0), hands_missing=(),
           seed: int = 0) -> np.ndarray:
    """(T, 137, 3) pixel frames of a seated upper body whose wrists circle; `hands_missing`: frames without hands.
    Neck at (640, 300) + shift, shoulder width 160 × scale."""
    rng = np.random.default_rng(seed)
    d = np.zeros((T, 137, 3), np.float32)
    cx, cy = 640 + shift[0], 300 + shift[1]
    base = {0: (0, -90), 1: (0, 0), 2: (-80, 0), 3: (-110, 110), 5: (80, 0), 6: (110, 110), 8: (0, 240),
            15: (-15, -105), 16: (15, -105), 17: (-35, -95), 18: (35, -95)}
    t = np.arange(T)
    for i, (x, y) in base.items():
        d[:, i] = (cx + x * scale / 1, cy + y * scale, 0.9)
    ang = 2 * np.pi * t / 25 + phase
    for i, side in ((4, -1), (7, 1)):
        d[:, i, 0] = cx + scale * (side * 60 + 40 * np.cos(ang))
        d[:, i, 1] = cy + scale * (150 + 40 * np.sin(ang))
        d[:, i, 2] = 0.9
    for f in range(70):
        d[:, 25 + f] = (cx + scale * 30 * math.cos(f / 70 * 2 * math.pi),
                        cy - scale * (90 + 30 * math.sin(f / 70 * 2 * math.pi)), 0.8)
    for sl, wrist in ((LH, 7), (RH, 4)):
        k = np.arange(21)
        d[:, sl, 0] = d[:, wrist, 0:1] + scale * (k % 5) * 6
        d[:, sl, 1] = d[:, wrist, 1:2] + scale * (k // 5) * 6 + 10
        d[:, sl, 2] = 0.7
    d[..., :2] += rng.normal(0, 0.3, d[..., :2].shape).astype(np.float32) * (d[..., 2:] > 0)
    for f in hands_missing: d[f, LH] = 0; d[f, RH] = 0
    return d


def write_lexicon(folder: Path) -> Path:
    """A lexicon of two instances of every gloss in `GLOSSES` (top_k 2, 50 fps, 1280 × 720): REGEN1 ends without
    hands, GEHEN1 starts without hands. Returns `folder`."""
    with LexiconWriter(folder, top_k=2) as w:
        for i, g in enumerate(GLOSSES):
            for k in range(2):
                T = 10 + (i * 3 + k) % 9
                miss = (T - 1,) if g == "REGEN1" else ()            # REGEN1 ends without hands
                if g == "GEHEN1": miss = (0, 1)                     # GEHEN1 starts without hands
                w.add(signer(T, phase=i + k, scale=1.0 + 0.1 * k, hands_missing=miss, seed=i * 7 + k), g,
                      quality=1.0 - 0.1 * k, fps=50.0, width=W, height=H, type=g.split(":")[0], transcript_id=f"t{k}")
    return Path(folder)


def write_times_csv(path: Path) -> Path:
    "A gloss-time table in notebook 06's columns: five glosses, a type row and the global row."
    rows = [{"gloss": g, "key_level": "gloss", "median_gd_ms": 400.0, "median_igt_ms": 100.0, "median_ogt_ms": 140.0}
            for g in GLOSSES[:5]]
    rows.append({"gloss": "$NUM-EINER1A", "key_level": "type", "median_gd_ms": 200.0, "median_igt_ms": float("nan"),
                 "median_ogt_ms": 80.0})
    rows.append({"gloss": "<all glosses>", "key_level": "global", "median_gd_ms": 300.0, "median_igt_ms": 120.0,
                 "median_ogt_ms": 160.0})
    pd.DataFrame(rows).to_csv(path, index=False)
    return Path(path)


class FakeEncoder:
    "Character-trigram hashing: a deterministic, offline stand-in for a sentence-transformers model."
    def encode(self, texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False, convert_to_numpy=True):
        out = np.zeros((len(texts), 256), np.float32)
        for r, t in enumerate(texts):
            s = f"  {t} "
            for i in range(len(s) - 2): out[r, hash(s[i:i + 3]) % 256] += 1
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


# ------------------------------------------------------------------ shared fixtures (import them into a test module)

@pytest.fixture(scope="module")
def lex(tmp_path_factory):
    "The 13-gloss synthetic lexicon of `write_lexicon`, opened."
    from t2g2p2s.lexicon import Lexicon
    return Lexicon.open(write_lexicon(tmp_path_factory.mktemp("lex") / "lexicon"))


@pytest.fixture(scope="module")
def times_csv(tmp_path_factory):
    "The gloss-time table of `write_times_csv`."
    return write_times_csv(tmp_path_factory.mktemp("times") / "gloss_times.csv")


def worker_pid(_task) -> int:
    "The process id of whoever runs a task (a pool worker imports this module by name)."
    import os
    return os.getpid()
