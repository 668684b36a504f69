"""The character calibration by size: fitted on validation characters cut to 1, 2, 3, 5 and 10 lines as well as
whole, it gives a character of one neutral line a probability near the prior (not the near-certainty a map fitted on
large characters gives); cutting keeps the partners' lines; the map round-trips through config.json; old configs
behave as before; the report by size reaches metrics.json, the reliability diagrams, the model card and --cv."""

from __future__ import annotations

import json
import re
from pathlib import Path

import datasets
import numpy as np
import pytest

from movie_gender import BiLSTMClassifier, BiLSTMConfig, load_cornell
from movie_gender.cli import main as cli_main
from movie_gender.configuration import DataOptions
from movie_gender.evaluation.calibration import calibrate_level, fit_platt, fit_size_platt
from movie_gender.evaluation.plots import write_reliability_plots
from movie_gender.evaluation.protocol import natural_train
from movie_gender.evaluation.size_calibration import (
    SIZES,
    SplitLines,
    attach_cut_scores,
    by_size,
    cut_scores,
    summarise_sizes,
)
from movie_gender.inference.characters import aggregate_logits
from movie_gender.labels import (
    SizeAwarePlatt,
    calibrated_probability,
    calibration_for,
    check_calibration,
    sigmoid,
)
from movie_gender.training import pipeline
from tests.factories import (
    FEMALE_WORDS,
    MALE_WORDS,
    SHARED_WORDS,
    synthetic_corpus,
    write_corpus_folder,
    write_glove,
)

SIZED = {"method": "platt_by_size", "scale": 4.0, "bias": 0.5, "prior": -1.0, "half_lines": 8.0}


def line_score(texts, character_ids, conversation_ids, context):
    """A character scorer over lines whose text is their log-odds: the mean log-odds of each character's lines."""
    characters = aggregate_logits(character_ids, [float(t) for t in texts])
    return characters.ids, characters.n_lines, characters.mean_logit


def synthetic_split(n_characters: int, seed: int, female_share: float = 0.3) -> datasets.Dataset:
    """Characters of 20-60 lines whose line log-odds are weak evidence (0.5 female, -0.2 male, noise sd 1.2): the
    mean of many lines separates the classes, one line hardly does. Two characters share each conversation."""
    rng = np.random.default_rng(seed)
    rows: dict[str, list] = {"text": [], "character_id": [], "label": [], "movie_id": [], "conversation_id": []}
    for c in range(n_characters):
        label = int(rng.random() < female_share)
        for i in range(int(rng.integers(20, 60))):
            rows["text"].append(f"{(0.5 if label else -0.2) + rng.normal(0, 1.2):.6f}")
            rows["character_id"].append(f"c{c}")
            rows["label"].append(label)
            rows["movie_id"].append(f"m{c // 4}")
            rows["conversation_id"].append(f"m{c // 4}:{c // 2}:{i % 5}")
    return datasets.Dataset.from_dict(rows)


def level(split: datasets.Dataset) -> dict:
    """The character level of a split as the protocol's level_data gives it (raw P(female) of the whole characters)."""
    characters = aggregate_logits(split["character_id"], [float(t) for t in split["text"]])
    labels = np.zeros(len(characters.ids), dtype=np.int64)
    labels[characters.inverse] = split["label"]
    return {"labels": labels, "ids": characters.ids.tolist(), "scores": {"model": characters.p_female}}


@pytest.fixture(scope="module")
def fitted() -> tuple[dict, dict, dict]:
    validation_split, test_split = synthetic_split(300, seed=1), synthetic_split(300, seed=2)
    validation, evaluated = level(validation_split), level(test_split)
    attach_cut_scores(None, (validation_split, test_split), (validation, evaluated), seed=0, score=line_score)
    record = calibrate_level(validation, evaluated)
    return record, validation, evaluated


def test_a_one_line_character_gets_a_probability_near_the_prior_not_near_certainty(fitted) -> None:
    record, validation, _ = fitted
    prior = float(np.mean(validation["labels"]))
    assert record["parameters"]["method"] == "platt_by_size"
    config = BiLSTMConfig(calibration={"character": record["parameters"]})
    # A map fitted on whole (large) characters only, as before: one line of log-odds 0.6 reads as near-certain.
    whole_only = fit_platt(np.log(validation["raw"] / (1 - validation["raw"])), validation["labels"])
    assert whole_only.probability([0.6])[0] > 0.9
    one_line = calibrated_probability(config, "character", [0.6], [1])[0]
    assert abs(one_line - prior) < 0.15
    # ... while the same mean log-odds over 50 lines is strong evidence, as it is in the data.
    assert calibrated_probability(config, "character", [0.6], [50])[0] > 0.85
    # the map is increasing in the score at every size
    for n in (1, 3, 10, 100):
        p = calibrated_probability(config, "character", [-1.0, 0.0, 1.0], [n] * 3)
        assert p[0] < p[1] < p[2]


def test_the_calibration_by_size_beats_the_constant_prior_at_every_size_on_held_out_characters(fitted) -> None:
    record, validation, evaluated = fitted
    sizes = by_size(validation, evaluated, record["parameters"], threshold=0.3)
    assert list(sizes) == [*map(str, SIZES), "whole"]
    for size, entry in sizes.items():
        assert entry["n"] > 50
        assert entry["log_loss"] < entry["prior_log_loss"], size
    # the map fitted on whole characters only is worse than the prior on one line: what this calibration fixes
    assert sizes["1"]["whole_map_log_loss"] > sizes["1"]["prior_log_loss"]
    assert sizes["1"]["extreme"] < 0.05 and sizes["whole"]["ece"] < 0.2
    json.dumps(sizes)


def test_cutting_subsets_only_the_characters_own_lines_and_keeps_its_partners(fitted) -> None:
    split = synthetic_split(8, seed=3)
    lines = SplitLines.of(split)
    calls = []

    def recording(texts, ids, conversations, context):
        calls.append((list(texts), list(ids), list(conversations)))
        return line_score(texts, ids, conversations, context)

    cut = cut_scores(recording, lines, ["c0", "c5"], sizes=(1, 3), seed=0)
    assert sorted(cut) == [1, 3] and cut[1][0].tolist() == [0, 1]
    texts, ids, conversations = calls[0]
    replicas = {}
    for text, cid, conversation in zip(texts, ids, conversations, strict=True):
        replica, name = cid.split("\x1f")
        replicas.setdefault(replica, {}).setdefault(name, []).append(text)
        assert conversation.startswith(f"{replica}\x1f")
    whole = {c: [t for t, i in zip(split["text"], split["character_id"], strict=True) if i == c] for c in ("c1", "c4")}
    # c0 cut to 1 line, beside every line of c1 (its partner); c5 cut to 1 line beside every line of c4
    assert {k: len(v) for k, v in replicas["0"].items()} == {"c0": 1, "c1": len(whole["c1"])}
    assert replicas["0"]["c1"] == whole["c1"] and replicas["2"]["c4"] == whole["c4"]
    assert len(replicas["1"]["c0"]) == 3
    # the cut score is the mean of the kept lines (the scorer's own answer for the cut character)
    assert cut[1][1][0] == pytest.approx(float(replicas["0"]["c0"][0]), abs=1e-6)
    # seeded: the same draw again
    assert np.array_equal(cut_scores(line_score, lines, ["c0", "c5"], sizes=(1, 3), seed=0)[3][1], cut[3][1])


def test_the_size_map_round_trips_through_config_json_and_needs_line_counts() -> None:
    config = BiLSTMConfig(vocab_size=10, calibration={"character": SIZED})
    again = BiLSTMConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again.calibration == config.calibration
    entry = calibration_for(again, "character")
    # a map written before ``power`` existed reads as power 1 (n / (n + half_lines)) and is written with it
    assert isinstance(entry, SizeAwarePlatt) and entry.to_dict() == {**SIZED, "n": 0, "power": 1.0}
    # one line: 1/9 of the way from the prior to the whole map; 8 lines: half way; 800 lines: nearly all the way
    n = np.array([1, 8, 800])
    share = n / (n + 8.0)
    expected = sigmoid(-1.0 + share * (4.0 * 0.5 + 0.5 - (-1.0)))
    np.testing.assert_allclose(calibrated_probability(again, "character", [0.5] * 3, n), expected)
    with pytest.raises(ValueError, match="pass n_lines"):
        calibrated_probability(again, "character", [0.5])
    # power 2: still half way at 8 lines, but one line keeps 1/65 of the way (it was 1/9)
    squared = SizeAwarePlatt.from_dict({**SIZED, "power": 2.0})
    np.testing.assert_allclose(squared.logits([0.5] * 3, n), -1.0 + n**2 / (n**2 + 64.0) * 3.5)
    with pytest.raises(ValueError, match=r"calibration.character.power must be greater than 0"):
        check_calibration({"character": {**SIZED, "power": 0.0}})
    with pytest.raises(ValueError, match=r"calibration.character.scale must be greater than 0"):
        check_calibration({"character": {**SIZED, "scale": 0.0}})
    with pytest.raises(ValueError, match=r"calibration.character.half_lines must be at least 0"):
        check_calibration({"character": {**SIZED, "half_lines": -1.0}})
    with pytest.raises(ValueError, match=r"calibration.character.prior must be a finite number"):
        check_calibration({"character": {**SIZED, "prior": None}})


def test_an_old_config_without_the_size_map_behaves_as_before() -> None:
    old = {"line": {"method": "platt", "scale": 0.6, "bias": -1.2, "n": 100}, "character": {"scale": 1.7, "bias": -0.4}}
    config = BiLSTMConfig.from_dict({"vocab_size": 10, "calibration": old})
    expected = sigmoid(1.7 * np.array([-1.0, 2.0]) - 0.4)
    np.testing.assert_allclose(calibrated_probability(config, "character", [-1.0, 2.0]), expected)
    np.testing.assert_allclose(calibrated_probability(config, "character", [-1.0, 2.0], [1, 50]), expected)
    np.testing.assert_allclose(calibrated_probability(config, "line", [0.0]), sigmoid(-1.2))


@pytest.mark.parametrize("power", [1.0, 2.0])
def test_fit_size_platt_recovers_a_known_shrinkage(power: float) -> None:
    rng = np.random.default_rng(0)
    n = rng.choice([1, 2, 3, 5, 10, 1_000_000], size=40_000)
    whole = n == 1_000_000  # so many lines that the whole map applies as it is
    z = rng.normal(-0.2, 0.6, size=len(n))
    y = (rng.random(len(n)) < sigmoid(4.0 * z + 0.5)).astype(int)
    share = (y[whole].sum() + 1) / (whole.sum() + 2)
    truth = SizeAwarePlatt.from_dict({**SIZED, "prior": float(np.log(share / (1 - share))), "power": power})
    y[~whole] = rng.random((~whole).sum()) < truth.probability(z[~whole], n[~whole])
    fitted = fit_size_platt(z, n, y, whole)
    # the whole map is fitted on the whole characters alone: Platt of their log-odds as they are
    platt = fit_platt(z[whole], y[whole])
    assert (fitted.scale, fitted.bias, fitted.prior) == (platt.scale, platt.bias, truth.prior)
    assert fitted.half_lines == pytest.approx(8.0, rel=0.2) and fitted.n == whole.sum() and fitted.power == power
    probe = np.linspace(-2, 2, 9)
    for k in (1, 3, 10):
        np.testing.assert_allclose(fitted.probability(probe, [k] * 9), truth.probability(probe, [k] * 9), atol=0.05)


def test_the_prior_comes_from_every_labelled_character_of_the_run_not_the_few_validation_ones() -> None:
    # 40 validation characters happen to be 10% female; the run's 400 train and validation characters are 30%.
    rng = np.random.default_rng(1)
    z = rng.normal(size=40)
    y = np.r_[np.ones(4), np.zeros(36)].astype(int)
    n = np.full(40, 30)
    whole = np.ones(40, dtype=bool)
    run = np.r_[np.ones(120), np.zeros(280)].astype(int)
    fitted = fit_size_platt(z, n, y, whole, prior_labels=run)
    assert fitted.prior == pytest.approx(np.log(121 / 281))  # smoothed as Platt's targets: (k + 1) / (n + 2)
    assert fit_size_platt(z, n, y, whole).prior == pytest.approx(np.log(5 / 37))  # without: the validation share


def test_reports_by_size_draw_a_diagram_per_size_and_pool_over_folds(fitted, tmp_path) -> None:
    record, validation, evaluated = fitted
    record["by_size"] = by_size(validation, evaluated, record["parameters"], threshold=0.3)
    written = write_reliability_plots({"character": {"calibration": record}, "eval_split": "test"}, tmp_path)
    assert [p.name for p in written] == ["reliability_character.png"] + [
        f"reliability_character_{k}_lines.png" for k in SIZES
    ]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in written)
    reports = [{"character": {"calibration": record}}, {"character": {"calibration": record}}]
    summary = summarise_sizes(reports)
    assert list(summary) == [*map(str, SIZES), "whole"]
    assert summary["1"]["pooled"]["n"] == 2 * record["by_size"]["1"]["n"]
    assert summary["1"]["ece"]["mean"] == pytest.approx(record["by_size"]["1"]["ece"])
    assert summary["1"]["pooled"]["log_loss"] == pytest.approx(record["by_size"]["1"]["log_loss"], abs=1e-5)


# ----------------------------------------------------------------------------------- end to end: train, card, corpus
@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """A model trained on a small synthetic corpus by `movie-gender train` (characters of 40 lines)."""
    tmp = tmp_path_factory.mktemp("sized")
    corpus = write_corpus_folder(tmp / "c", *synthetic_corpus(n_movies=20, lines_per_character=40, seed=5))
    glove = write_glove(
        tmp / "glove.tiny.8d.txt.gz", ["the", ".", "!", "?", "..."] + SHARED_WORDS[1:] + MALE_WORDS + FEMALE_WORDS
    )
    out = tmp / "model"
    quick = ["--epochs", "2", "--hidden-size", "8", "--batch-size", "64", "--bootstrap", "0", "--min-lines", "3"]
    cli_main(["train", "--corpus", str(corpus), "--glove", str(glove), "--output", str(out), *quick])
    return corpus, out


def test_training_saves_the_size_map_and_reports_by_size_in_metrics_plots_and_card(trained) -> None:
    corpus, out = trained
    config = json.loads((out / "config.json").read_text())
    metrics = json.loads((out / "metrics.json").read_text())
    assert config["calibration"]["character"]["method"] == "platt_by_size"
    assert config["calibration"]["character"] == metrics["character"]["calibration"]["parameters"]
    sizes = metrics["character"]["calibration"]["by_size"]
    assert list(sizes) == [*map(str, SIZES), "whole"]
    assert sizes["whole"]["n"] == metrics["character"]["model"]["n"]
    assert sizes["whole"]["ece"] == pytest.approx(metrics["character"]["calibration"]["ece"])
    for name in ("reliability_character.png", *(f"reliability_character_{k}_lines.png" for k in SIZES)):
        assert (out / name).read_bytes().startswith(b"\x89PNG"), name
    card = (out / "README.md").read_text()
    assert "#### Characters by size" in card
    one = sizes["1"]
    row = rf"\| 1 \| {one['n']} \| {one['ece']:.3f} \({one['ece_noise_floor']:.3f}\) \| {one['log_loss']:.3f} \| "
    assert re.search(row + rf"{one['prior_log_loss']:.3f} \|", card), row
    assert "[diagram](reliability_character_1_lines.png)" in card
    # the saved model applies the map with each character's line count
    model = BiLSTMClassifier.from_pretrained(out)
    data = load_cornell(corpus)
    texts, ids = data["text"], data["character_id"]
    first = ids[0]
    rows = model.predict_characters([texts[0]], [first]) + model.predict_characters(texts, ids)
    logit_one = float(model.predict_logits([texts[0]])[0])
    assert rows[0]["n_lines"] == 1
    assert rows[0]["p_female"] == pytest.approx(calibrated_probability(model.config, "character", [logit_one], [1])[0])


def test_training_takes_the_calibrations_prior_from_every_labelled_train_and_validation_character(trained) -> None:
    corpus, out = trained
    prior = json.loads((out / "config.json").read_text())["calibration"]["character"]["prior"]
    dataset, _ = pipeline.load_data(DataOptions(corpus=str(corpus)))  # the split the run made (the same options)
    shares = []
    for split in (natural_train(dataset["train"]), dataset["validation"]):
        columns = split.select_columns(["character_id", "label"]).to_dict()
        _, first, counts = np.unique(columns["character_id"], return_index=True, return_counts=True)
        shares.append([columns["label"][i] for i, count in zip(first, counts, strict=True) if count >= 3])
    run = shares[0] + shares[1]
    assert len(shares[0]) > 2 * len(shares[1])  # the train characters outnumber the validation ones
    assert prior == pytest.approx(np.log((sum(run) + 1) / (len(run) - sum(run) + 1)))
    assert prior != pytest.approx(np.log((sum(shares[1]) + 1) / (len(shares[1]) - sum(shares[1]) + 1)))


def test_the_completed_corpus_card_states_accuracy_by_size_band(trained, tmp_path) -> None:
    corpus, out = trained
    target = tmp_path / "completed"
    cli_main(["label-characters", str(out), "--corpus", str(corpus), "--output", str(target)])
    card = (target / "README.md").read_text()
    sizes = json.loads((out / "metrics.json").read_text())["character"]["calibration"]["by_size"]
    for size, band in (("1", "1"), ("3", "3-4"), ("10", "10+")):
        entry = sizes[size]
        row = (
            rf"\| {size} \| {entry['n']} \| {entry['accuracy']:.3f} \| {entry['balanced_accuracy']:.3f} \| "
            rf"{entry['ece']:.3f} \({entry['ece_noise_floor']:.3f}\) \| {entry['log_loss']:.3f} "
            rf"\({entry['prior_log_loss']:.3f}\) \| \d+ \({re.escape(band)}\) \|"
        )
        assert re.search(row, card), row
    assert "**By size.**" in card


def test_cross_validation_reports_the_character_calibration_by_size_pooled_over_folds(tmp_path) -> None:
    corpus = write_corpus_folder(tmp_path / "c", *synthetic_corpus(n_movies=9, lines_per_character=12, seed=2))
    glove = write_glove(tmp_path / "glove.tiny.8d.txt", ["the", ".", "!", "?"] + SHARED_WORDS[1:] + MALE_WORDS)
    out = tmp_path / "cv"
    quick = ["--epochs", "1", "--hidden-size", "8", "--batch-size", "32", "--min-lines", "3"]
    cli_main(["train", "--cv", "3", "--corpus", str(corpus), "--glove", str(glove), "--output", str(out), *quick])
    cv = json.loads((out / "cv.json").read_text())
    sizes = cv["calibration"]["by_size"]
    assert list(sizes) == [*map(str, SIZES), "whole"]
    tested = sum(f["character"]["model"]["n"] for f in cv["folds"])
    assert sizes["whole"]["pooled"]["n"] == tested and sizes["1"]["pooled"]["n"] == tested  # 12 lines each: all cut
    assert sizes["1"]["folds"] == 3 and 0 <= sizes["1"]["pooled"]["ece"] <= 1
    assert sizes["whole"]["ece"]["mean"] == pytest.approx(
        np.mean([f["calibration"]["character"]["ece"] for f in cv["folds"]])
    )
