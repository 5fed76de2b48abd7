"""Tests of t2g2p2s.human_evaluation: the blinded rating kit (random names, seeded order, private key with
checksums), the analysis of filled sheets (a known effect recovered on simulated raters, no difference on equal
ratings), error messages that name file, line and column, and the `evaluate human-analyse` command."""
import contextlib
import io
import json

import numpy as np
import pandas as pd
import pytest

from t2g2p2s.core import DataError, sha256_file
from t2g2p2s.human_evaluation import KEY_NAME, SHEET_NAME, analyse_ratings, make_human_eval_kit, read_rating_sheets
from t2g2p2s.poses import OPENPOSE_137, Pose

from synthetic import H, W, signer

VARIANTS = ("real", "thesis", "ours")


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    out = tmp_path_factory.mktemp("kit")
    items = [{"sentence_id": f"s{i}", "german": f"Satz {i}.", "glosses": ["A", "B"],
              "poses": {v: Pose(signer(10 + i, phase=k, seed=i * 3 + k), OPENPOSE_137, 50.0, W, H)
                        for k, v in enumerate(VARIANTS)}}
             for i in range(5)]
    return make_human_eval_kit(items, out, seed=3), out


def test_kit_is_blinded_and_keyed(kit):
    k, out = kit
    sheet = pd.read_csv(k["sheet"], dtype=str, keep_default_na=False)
    key = pd.read_csv(k["key"], dtype=str, keep_default_na=False)
    assert list(sheet.columns) == ["item", "sentence", "file", "naturalness", "comprehensibility", "comment"]
    assert len(sheet) == 15 and sheet.item.tolist() == sorted(sheet.item) and set(sheet.item) == set(key.item)
    text = sheet.to_csv()
    assert not any(v in text for v in VARIANTS) and (sheet[["naturalness", "comprehensibility"]] == "").all().all()
    assert all(sha256_file(out / f) == h for f, h in zip(key.file, key.sha256))
    assert key.variant.tolist() != sorted(key.variant.tolist()) or key.sentence_id.tolist() != sorted(key.sentence_id.tolist())
    assert sorted(key.groupby("sentence_id").variant.apply(lambda v: tuple(sorted(v))).unique()) == [tuple(sorted(VARIANTS))]
    assert "KEY-private.csv" in (out / "README.md").read_text()


def fill(sheet: pd.DataFrame, key: pd.DataFrame, means: dict, seed: int, rater: str) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    var = dict(zip(key.item, key.variant))
    f = sheet.copy()
    for c in ("naturalness", "comprehensibility"):
        f[c] = [str(int(np.clip(round(means[var[i]] + rng.normal(0, 0.5)), 1, 5))) for i in f.item]
    return f.assign(rater=rater)


def test_analysis_recovers_a_known_effect(kit, tmp_path):
    k, _ = kit
    sheet = pd.read_csv(k["sheet"], dtype=str, keep_default_na=False)
    key = pd.read_csv(k["key"], dtype=str, keep_default_na=False)
    truth = {"real": 4.5, "ours": 3.5, "thesis": 1.5}
    paths = []
    for r in range(4):
        p = tmp_path / f"rater{r}.csv"
        fill(sheet, key, truth, r, f"rater{r}").drop(columns="rater").to_csv(p, index=False)
        paths.append(p)
    ratings = read_rating_sheets(paths)
    assert set(ratings.rater) == {f"rater{r}" for r in range(4)} and len(ratings) == 4 * 15 * 2
    res = analyse_ratings(ratings, k["key"], n_boot=300, seed=0)
    m = res["means"].set_index(["criterion", "variant"])
    for c in ("naturalness", "comprehensibility"):
        for v, mu in truth.items():
            assert abs(m.loc[(c, v), "mean"] - mu) < 0.5 and m.loc[(c, v), "ci_low"] <= m.loc[(c, v), "mean"] <= m.loc[(c, v), "ci_high"]
    p = res["paired"].set_index(["criterion", "a", "b"])
    row = p.loc[("naturalness", "ours", "thesis")]
    assert row.ci_low > 1 and row.wilcoxon_p < 0.01 and row.a_better > row.b_better and row.n_pairs == 4 * 5
    same = analyse_ratings(ratings.assign(rating=3.0), k["key"], n_boot=50)["paired"]
    assert (same.mean_diff == 0).all() and (same.wilcoxon_p == 1).all()


def test_rating_errors_name_file_and_line(kit, tmp_path):
    k, _ = kit
    sheet = pd.read_csv(k["sheet"], dtype=str, keep_default_na=False)
    bad = sheet.copy(); bad.loc[2, "naturalness"] = "7"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataError, match=r"bad\.csv: line 4, column naturalness"):
        read_rating_sheets([tmp_path / "bad.csv"])
    txt = sheet.copy(); txt.loc[0, "comprehensibility"] = "good"
    txt.to_csv(tmp_path / "txt.csv", index=False)
    with pytest.raises(DataError, match="not a number"):
        read_rating_sheets([tmp_path / "txt.csv"])
    stray = sheet.copy(); stray.loc[0, "item"] = "item-999"; stray.loc[0, "naturalness"] = "3"
    stray.to_csv(tmp_path / "stray.csv", index=False)
    with pytest.raises(DataError, match="item-999"):
        analyse_ratings(read_rating_sheets([tmp_path / "stray.csv"]), k["key"])
    fill(sheet, pd.read_csv(k["key"], dtype=str, keep_default_na=False), {"real": 4, "ours": 3, "thesis": 2}, 0, "r").drop(
        columns="rater").to_csv(tmp_path / "twice.csv", index=False)
    with pytest.raises(DataError, match="twice"):
        analyse_ratings(read_rating_sheets([tmp_path / "twice.csv"] * 2), k["key"])
    with pytest.raises(DataError, match="lacks column"):
        sheet.drop(columns="naturalness").to_csv(tmp_path / "nocol.csv", index=False); read_rating_sheets([tmp_path / "nocol.csv"])


def test_cli_analyses_filled_sheets(kit, tmp_path):
    "`t2g2p2s evaluate human-analyse` through the top-level command line (the group spans notebooks 01d, 10 and 10a)."
    from t2g2p2s.pipeline import main
    k, out = kit
    assert k["key"] == out / KEY_NAME and k["sheet"] == out / SHEET_NAME
    sheet = pd.read_csv(k["sheet"], dtype=str, keep_default_na=False)
    key = pd.read_csv(k["key"], dtype=str, keep_default_na=False)
    fill(sheet, key, {"real": 4, "ours": 3, "thesis": 2}, 0, "r1").to_csv(tmp_path / "r1.csv", index=False)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["evaluate", "human-analyse", str(tmp_path / "r1.csv"), "--key", str(k["key"]), "--json",
                   "--n-boot", "50"])
    d = json.loads(buf.getvalue())
    assert rc == 0 and {r["variant"] for r in d["means"]} == set(VARIANTS) and len(d["paired"]) == 6
