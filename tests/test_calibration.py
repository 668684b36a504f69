"""Calibration: Platt scaling recovers known parameters, keeps the ranking and maps thresholds exactly; the ECE and
the confident-prediction precision on cases with known answers; the config carries the calibration through
save_pretrained / from_pretrained, and every place that makes P(female) for users applies it."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from movie_gender import BiLSTMClassifier, BiLSTMConfig, load_cornell
from movie_gender.cli import main as cli_main
from movie_gender.evaluation.calibration import (
    calibrate_level,
    confident,
    config_calibration,
    expected_calibration_error,
    fit_platt,
    reliability,
    summarise_folds,
)
from movie_gender.evaluation.plots import write_reliability_plots
from movie_gender.inference.characters import aggregate_logits
from movie_gender.inference.prediction import score_characters, score_lines
from movie_gender.labels import (
    PlattScaling,
    calibrated_probability,
    decision_threshold,
    is_female,
    label_names,
    sigmoid,
)
from tests.factories import synthetic_corpus, train_small_model, write_corpus_folder

LINE = {"method": "platt", "scale": 0.6, "bias": -1.2, "n": 100}
CHARACTER = {"method": "platt", "scale": 1.7, "bias": -0.4, "n": 20}


def _draw(scale: float, bias: float, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Raw log-odds x and labels drawn with P(y = 1 | x) = sigmoid(scale * x + bias): the true calibration is known."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 2.0, n)
    return x, (rng.random(n) < sigmoid(scale * x + bias)).astype(np.int64)


@pytest.mark.parametrize(("scale", "bias"), [(0.5, -1.0), (2.0, 0.7)])
def test_platt_recovers_known_parameters_and_removes_the_miscalibration(scale: float, bias: float) -> None:
    x, y = _draw(scale, bias, 40_000)
    fitted = fit_platt(x, y)
    assert fitted.scale == pytest.approx(scale, abs=0.05) and fitted.bias == pytest.approx(bias, abs=0.05)
    assert fitted.n == len(y)
    test_x, test_y = _draw(scale, bias, 40_000, seed=1)  # fresh data: the ECE of the fitted map, not of the fit
    assert expected_calibration_error(test_y, sigmoid(test_x)) > 0.1  # the raw scores are miscalibrated
    assert expected_calibration_error(test_y, fitted.probability(test_x)) < 0.015
    truth = expected_calibration_error(test_y, sigmoid(scale * test_x + bias))
    assert expected_calibration_error(test_y, fitted.probability(test_x)) < truth + 0.01


def test_calibration_keeps_the_ranking_and_maps_thresholds_exactly() -> None:
    x, y = _draw(0.4, -1.5, 3_000)
    fitted = fit_platt(x, y)
    raw, calibrated = sigmoid(x), fitted.probability(x)
    assert roc_auc_score(y, calibrated) == pytest.approx(roc_auc_score(y, raw), abs=1e-12)
    for t in (0.2, 0.5, 0.8):
        mapped = fitted.probability([np.log(t / (1 - t))])[0]
        np.testing.assert_array_equal(raw >= t, calibrated >= mapped)


def test_a_scorer_that_ranks_backwards_still_gets_an_increasing_map() -> None:
    x, y = _draw(-1.0, 0.0, 2_000)
    fitted = fit_platt(x, y)
    assert fitted.scale > 0  # never reverses the model's ranking: it flattens it instead
    assert np.all(np.diff(fitted.probability(np.sort(x))) >= 0)


def test_one_class_leaves_the_scores_as_they_are(caplog) -> None:
    with caplog.at_level(logging.WARNING):
        fitted = fit_platt([0.1, 2.0, -1.0], [1, 1, 1])
    assert (fitted.scale, fitted.bias) == (1.0, 0.0) and "both classes" in caplog.text


def test_ece_equal_mass_bins_on_known_cases() -> None:
    labels = np.array([0] * 20 + [1] * 80)
    assert expected_calibration_error(labels, np.full(100, 0.8)) == pytest.approx(0.0)
    assert expected_calibration_error(labels, np.full(100, 0.5)) == pytest.approx(0.3)
    # Two groups in two bins of 50: scores 0.1 for 50 all-male, 0.9 for 50 of which 40 female: |0 - .1| and |.8 - .9|
    labels = np.array([0] * 50 + [0] * 10 + [1] * 40)
    scores = np.array([0.1] * 50 + [0.9] * 50)
    assert expected_calibration_error(labels, scores, bins=2) == pytest.approx(0.1)
    table = reliability(labels, scores, bins=2)
    assert [b["n"] for b in table] == [50, 50] and table[1]["fraction_female"] == pytest.approx(0.8)
    distinct = np.linspace(0, 1, 100)
    assert [b["n"] for b in reliability(labels, distinct, bins=3)] == [33, 34, 33]  # equal mass
    assert [b["n"] for b in reliability(labels, scores, bins=3)] == [50, 50]  # equal scores are never split


def test_confident_counts_and_precision() -> None:
    labels = [1, 1, 0, 1, 0, 0]
    scores = [0.95, 0.91, 0.9, 0.5, 0.05, 0.2]
    out = confident(labels, scores)
    assert out["female"] == {"n": 3, "precision": pytest.approx(2 / 3)}
    assert out["male"] == {"n": 1, "precision": 1.0}
    assert confident([0, 1], [0.5, 0.5])["female"] == {"n": 0, "precision": None}


def test_calibrate_level_fits_on_validation_only_and_reports_on_the_evaluated_split(tmp_path: Path) -> None:
    vx, vy = _draw(0.5, -1.0, 4_000, seed=2)
    ex, ey = _draw(0.5, -1.0, 4_000, seed=3)
    validation = {"labels": vy, "scores": {"model": sigmoid(vx), "baseline": sigmoid(vx)}}
    evaluated = {"labels": ey, "scores": {"model": sigmoid(ex), "baseline": sigmoid(ex)}}
    # Poisoned evaluated labels must not move the fitted parameters: they come from validation only.
    poisoned = {"labels": 1 - ey, "scores": {"model": sigmoid(ex)}}
    record = calibrate_level(validation, evaluated)
    assert (
        calibrate_level({"labels": vy, "scores": {"model": sigmoid(vx)}}, poisoned)["parameters"]
        == record["parameters"]
    )
    expected = fit_platt(vx, vy)
    np.testing.assert_allclose(evaluated["scores"]["model"], expected.probability(ex), rtol=1e-9)
    np.testing.assert_allclose(evaluated["scores"]["baseline"], sigmoid(ex))  # other scorers untouched
    assert record["ece_raw"] > 0.1 and record["ece"] < 0.03 and record["bins"] == 10
    assert 0 < record["ece_noise_floor"] < 0.03
    assert record["binning"] == "equal-mass" and len(record["reliability"]["calibrated"]) == 10
    report = {"line": {"calibration": record}, "eval_split": "test"}
    assert config_calibration(report) == {"line": record["parameters"]}
    json.dumps(record)  # plain JSON
    written = write_reliability_plots(report, tmp_path)
    assert [p.name for p in written] == ["reliability_line.png"]
    assert written[0].read_bytes().startswith(b"\x89PNG")


def test_summarise_folds_means_and_pools() -> None:
    reports, pooled = [], {"character": {"labels": [], "model": []}}
    for seed in range(3):
        vx, vy = _draw(0.5, -1.0, 500, seed=10 + seed)
        ex, ey = _draw(0.5, -1.0, 500, seed=20 + seed)
        evaluated = {"labels": ey, "scores": {"model": sigmoid(ex)}}
        record = calibrate_level({"labels": vy, "scores": {"model": sigmoid(vx)}}, evaluated)
        reports.append({"character": {"calibration": record}})
        pooled["character"]["labels"].append(ey)
        pooled["character"]["model"].append(evaluated["scores"]["model"])
    summary = summarise_folds(reports, pooled)["character"]
    eces = [r["character"]["calibration"]["ece"] for r in reports]
    assert summary["ece"]["mean"] == pytest.approx(np.mean(eces)) and summary["ece"]["folds"] == 3
    assert summary["ece"]["sd"] == pytest.approx(np.std(eces, ddof=1))
    assert summary["pooled"]["n"] == 1500


def test_config_rejects_a_malformed_calibration() -> None:
    with pytest.raises(ValueError, match=r"calibration.line.scale must be greater than 0"):
        BiLSTMConfig(calibration={"line": {"method": "platt", "scale": -1.0, "bias": 0.0}})
    with pytest.raises(ValueError, match=r"unknown level 'word'"):
        BiLSTMConfig(calibration={"word": LINE})
    with pytest.raises(ValueError, match=r"calibration.character.bias must be a finite number"):
        BiLSTMConfig(calibration={"character": {"scale": 1.0, "bias": "x"}})


@pytest.fixture(scope="module")
def calibrated_folder(tmp_path_factory) -> tuple[Path, Path]:
    """A small trained model saved with known line and character calibrations, and the corpus it reads."""
    corpus = write_corpus_folder(
        tmp_path_factory.mktemp("corpus"), *synthetic_corpus(n_movies=4, lines_per_character=6)
    )
    data = load_cornell(corpus, include_unknown=True)
    model = train_small_model(data["text"], [max(v, 0) for v in data["label"]], steps=10)
    model.config.calibration = {"line": LINE, "character": CHARACTER}
    model.config.threshold, model.config.character_threshold = 0.3, 0.6
    folder = tmp_path_factory.mktemp("model") / "calibrated"
    model.save_pretrained(folder)
    return folder, corpus


def test_calibration_round_trips_and_every_prediction_path_applies_it(calibrated_folder, capsys) -> None:
    folder, corpus = calibrated_folder
    saved = json.loads((folder / "config.json").read_text())
    assert saved["calibration"] == {"line": LINE, "character": CHARACTER}
    model = BiLSTMClassifier.from_pretrained(folder)
    assert model.config.calibration == {"line": LINE, "character": CHARACTER}
    data = load_cornell(corpus, include_unknown=True)
    texts, ids = data["text"], data["character_id"]
    logits = model.predict_logits(texts)
    line_p = sigmoid(0.6 * logits - 1.2)
    np.testing.assert_allclose(model.predict_proba(texts), line_p, rtol=1e-6)
    assert not np.allclose(line_p, sigmoid(logits), atol=1e-3)  # the calibration changes the answer
    labels = [p["label"] for p in model.predict(texts)]
    assert labels == ["female" if p >= 0.3 else "male" for p in line_p]
    np.testing.assert_allclose(score_lines(model, data, progress=False)["p_female"].to_numpy(), line_p, rtol=1e-6)

    characters = aggregate_logits(ids, logits)
    expected = dict(zip(characters.ids.tolist(), sigmoid(1.7 * characters.mean_logit - 0.4), strict=True))
    for row in model.predict_characters(texts, ids):
        assert row["p_female"] == pytest.approx(expected[row["character_id"]], rel=1e-6)
        assert row["label"] == ("female" if row["p_female"] >= 0.6 else "male")
    table = score_characters(model, data, progress=False)
    for cid, p in zip(table["character_id"].to_pylist(), table["p_female"].to_pylist(), strict=True):
        assert p == pytest.approx(expected[cid], rel=1e-6)
    assert calibrated_probability(model.config, "character", [0.0])[0] == pytest.approx(sigmoid(-0.4))

    cli_main(["predict", str(folder), texts[0]])
    row = json.loads(capsys.readouterr().out)
    p0 = line_p[0]
    assert row["score"] == pytest.approx(p0 if p0 >= 0.3 else 1 - p0, rel=1e-5)


def test_a_config_without_calibration_gives_the_plain_sigmoid() -> None:
    assert PlattScaling.from_dict(LINE).scale == 0.6
    config = BiLSTMConfig.from_dict({"vocab_size": 10})
    assert config.calibration is None
    np.testing.assert_allclose(calibrated_probability(config, "line", [-1.0, 0.0, 2.0]), sigmoid([-1.0, 0.0, 2.0]))


def test_the_labelling_rule_is_female_at_or_above_the_threshold_of_each_level() -> None:
    config = BiLSTMConfig.from_dict({"vocab_size": 10, "threshold": 0.3, "character_threshold": 0.6})
    p = [0.29, 0.3, 0.59, 0.6]
    assert is_female(config, "line", p).tolist() == [False, True, True, True]
    assert is_female(config, "character", p).tolist() == [False, False, False, True]
    assert label_names(config, is_female(config, "character", p)) == ["male", "male", "male", "female"]
    untrained = BiLSTMConfig.from_dict({"vocab_size": 10})
    assert decision_threshold(untrained, "line") == decision_threshold(untrained, "character") == 0.5
    with pytest.raises(ValueError, match="level"):
        is_female(config, "movie", p)


def test_the_noise_floor_is_the_ece_of_a_calibrated_scorer_on_a_sample_that_size() -> None:
    from movie_gender.evaluation.calibration import ece_noise_floor

    rng = np.random.default_rng(5)
    small = rng.beta(1, 3, 60)
    floor = ece_noise_floor(small)
    observed = [expected_calibration_error(rng.random(60) < small, small) for _ in range(300)]
    assert floor == pytest.approx(np.mean(observed), abs=0.01)
    assert floor > 0.08  # a few dozen characters cannot show an ECE near 0, however calibrated
    assert ece_noise_floor(rng.beta(1, 3, 20_000), draws=20) < 0.015
