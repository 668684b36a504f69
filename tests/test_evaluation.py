"""The statistics of the evaluation, specified on small synthetic data: thresholds chosen on validation, weighted
metrics, the movie bootstrap, paired differences, character aggregation, the baselines and the protocol."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, average_precision_score, balanced_accuracy_score, f1_score, roc_auc_score

from movie_gender import build_dataset, train_tokenizer
from movie_gender.evaluation.baselines import (
    BASELINES,
    DEFAULT_BASELINES,
    BaselineResources,
    TfidfLogreg,
    available_baselines,
    baseline_scores,
    fit_baseline,
    mean_vectors,
    register_baseline,
    score_baseline,
)
from movie_gender.evaluation.bootstrap import bootstrap_samples, intervals, paired_differences, weighted_metrics
from movie_gender.evaluation.protocol import (
    aggregate_by_character,
    choose_threshold,
    evaluate,
    format_report,
    level_data,
    model_decisions,
    natural_train,
)
from tests.factories import FEMALE_WORDS, MALE_WORDS


# ------------------------------------------------------------------------------------------------ thresholds
def _balanced_accuracy_at(labels, scores, threshold):
    return balanced_accuracy_score(labels, np.asarray(scores) >= threshold)


def _best_by_brute_force(labels: np.ndarray, scores: np.ndarray) -> float:
    """The best balanced accuracy over every cut: at each distinct score, and above them all."""
    cuts = np.r_[np.unique(scores), np.inf][:, None]
    predicted = scores[None, :] >= cuts
    recall_female = (predicted & (labels == 1)).sum(1) / (labels == 1).sum()
    recall_male = (~predicted & (labels == 0)).sum(1) / (labels == 0).sum()
    return float(((recall_female + recall_male) / 2).max())


def test_threshold_maximises_balanced_accuracy_on_the_data_it_is_chosen_on() -> None:
    rng = np.random.default_rng(0)
    for trial in range(20):
        labels = rng.integers(0, 2, 200) if trial % 2 else (rng.random(200) < 0.2).astype(int)
        scores = np.round(np.clip(rng.normal(0.55 + 0.1 * labels, 0.1), 0, 1), 2)  # ties, all scores above 0.5 often
        chosen = choose_threshold(labels, scores)
        assert _balanced_accuracy_at(labels, scores, chosen) == pytest.approx(
            _best_by_brute_force(labels, scores), abs=1e-12
        )


def test_threshold_falls_between_the_classes_and_ties_prefer_half() -> None:
    # Perfectly separated: any cut between 0.7 and 0.8 is best; the midpoint is chosen, not an end.
    assert choose_threshold([0, 0, 1, 1], [0.6, 0.7, 0.8, 0.9]) == pytest.approx(0.75)
    # A constant scorer (always male): every cut gives 0.5; the one closest to 0.5 keeps predicting male.
    threshold = choose_threshold([0, 1, 0, 1], [0.0, 0.0, 0.0, 0.0])
    assert threshold == 0.5 and not (np.zeros(4) >= threshold).any()
    # One class only: nothing to choose.
    assert choose_threshold([0, 0, 0], [0.1, 0.9, 0.4]) == 0.5


def test_a_shifted_scorer_gets_its_threshold_from_validation() -> None:
    # Every score is above 0.5 (a miscalibrated scorer): at 0.5 everything is female; the chosen threshold is not.
    rng = np.random.default_rng(1)
    labels = (rng.random(500) < 0.3).astype(int)
    scores = 0.8 + 0.1 * labels + rng.normal(0, 0.02, 500)
    assert _balanced_accuracy_at(labels, scores, 0.5) == 0.5
    threshold = choose_threshold(labels, scores)
    assert 0.8 < threshold < 0.9 and _balanced_accuracy_at(labels, scores, threshold) > 0.95


# ------------------------------------------------------------------------------------------------ weighted metrics
def test_weighted_metrics_equal_scikit_learn_on_repeated_rows() -> None:
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 2, 300)
    scores = np.round(rng.random(300) + 0.3 * labels, 1)  # many ties
    predicted = scores >= 0.6
    weights = rng.integers(0, 4, size=(3, 300))
    computed = weighted_metrics(labels, scores, predicted, weights)
    for row, w in enumerate(weights):
        rows = np.repeat(np.arange(300), w)
        y, s, p = labels[rows], scores[rows], predicted[rows]
        expected = {
            "roc_auc": roc_auc_score(y, s),
            "average_precision": average_precision_score(y, s),
            "balanced_accuracy": balanced_accuracy_score(y, p),
            "accuracy": accuracy_score(y, p),
            "macro_f1": f1_score(y, p, average="macro"),
        }
        for metric, value in expected.items():
            assert computed[metric][row] == pytest.approx(value, abs=1e-12), metric


def test_a_resample_with_one_class_is_undefined_not_perfect() -> None:
    values = weighted_metrics([0, 0, 1], [0.1, 0.2, 0.9], [False, False, True], np.array([[1, 1, 0]]))
    assert all(np.isnan(v[0]) for v in values.values())


# ------------------------------------------------------------------------------------------------ movie bootstrap
def _clustered(rng: np.random.Generator, movies: int, lines: int = 40) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lines whose scores depend on their movie: each movie shifts all its scores and has its own separation."""
    movie = np.repeat(np.arange(movies), lines)
    labels = (rng.random(movies * lines) < 0.3).astype(int)
    shift = rng.normal(0, 1.0, movies)[movie]
    separation = rng.normal(0.8, 1.0, movies)[movie]
    scores = 1 / (1 + np.exp(-(shift + separation * labels + rng.normal(0, 1, movies * lines))))
    return labels, scores, movie


def test_movie_bootstrap_is_wider_than_line_bootstrap_and_covers_the_true_value() -> None:
    rng = np.random.default_rng(3)
    population = _clustered(rng, 5_000)
    true_auc = roc_auc_score(population[0], population[1])
    covered = {"movie": 0, "line": 0}
    widths = {"movie": [], "line": []}
    replicates = 40
    for r in range(replicates):
        labels, scores, movie = _clustered(rng, 25)
        for unit, clusters in (("movie", movie), ("line", None)):
            samples = bootstrap_samples(labels, {"s": scores}, {"s": 0.5}, clusters, 300, seed=r)
            low, high = intervals(samples["s"])["roc_auc"]
            covered[unit] += low <= true_auc <= high
            widths[unit].append(high - low)
    assert np.mean(widths["movie"]) > 1.5 * np.mean(widths["line"])
    assert covered["movie"] / replicates >= 0.85  # nominal 95%
    assert covered["line"] / replicates < covered["movie"] / replicates - 0.2  # lines are not independent


def test_bootstrap_resamples_are_shared_and_reproducible() -> None:
    labels, scores, movie = _clustered(np.random.default_rng(4), 12)
    first = bootstrap_samples(labels, {"a": scores, "b": scores}, {"a": 0.5, "b": 0.5}, movie, 200, seed=7)
    again = bootstrap_samples(labels, {"a": scores}, {"a": 0.5}, movie, 200, seed=7)
    np.testing.assert_array_equal(first["a"]["roc_auc"], first["b"]["roc_auc"])  # same resamples for every scorer
    np.testing.assert_array_equal(first["a"]["roc_auc"], again["a"]["roc_auc"])


# ------------------------------------------------------------------------------------------------ paired differences
def test_paired_difference_interval_is_narrow_when_two_scorers_agree_line_by_line() -> None:
    rng = np.random.default_rng(5)
    labels, scores, movie = _clustered(rng, 20)
    better = scores + 0.02 * labels  # the same scorer, slightly better on every female line
    scored = {"model": better, "baseline": scores}
    samples = bootstrap_samples(labels, scored, {"model": 0.5, "baseline": 0.5}, movie, 500, seed=0)
    point = {
        name: {"roc_auc": roc_auc_score(labels, s), "balanced_accuracy": balanced_accuracy_score(labels, s >= 0.5)}
        for name, s in scored.items()
    }
    difference = paired_differences(point, samples)["baseline"]
    assert difference["roc_auc"] == pytest.approx(point["model"]["roc_auc"] - point["baseline"]["roc_auc"])
    low, high = difference["roc_auc_ci95"]
    assert 0 < low <= difference["roc_auc"] <= high  # the model is better on every resample
    single = intervals(samples["model"])["roc_auc"]
    assert high - low < (single[1] - single[0]) / 5  # paired: far narrower than either scorer's own interval
    # Unpaired (independent resamples per scorer), the same difference would look like noise.
    other = bootstrap_samples(labels, {"baseline": scores}, {"baseline": 0.5}, movie, 500, seed=1)
    unpaired = np.nanpercentile(samples["model"]["roc_auc"] - other["baseline"]["roc_auc"], [2.5, 97.5])
    assert unpaired[0] < 0 < unpaired[1]


def test_difference_with_itself_is_exactly_zero() -> None:
    labels, scores, movie = _clustered(np.random.default_rng(6), 10)
    samples = bootstrap_samples(labels, {"model": scores, "copy": scores}, {"model": 0.5, "copy": 0.5}, movie, 100, 0)
    point = {n: {"roc_auc": 0.7, "balanced_accuracy": 0.6} for n in ("model", "copy")}
    assert paired_differences(point, samples)["copy"] == {
        "roc_auc": 0.0,
        "roc_auc_ci95": [0.0, 0.0],
        "balanced_accuracy": 0.0,
        "balanced_accuracy_ci95": [0.0, 0.0],
    }


# ------------------------------------------------------------------------------------------------ characters
def test_character_scores_are_the_sigmoid_of_the_mean_log_odds() -> None:
    characters = ["a", "a", "a", "b", "b", "c", "c", "c"]
    labels = [1, 1, 1, 0, 0, 0, 0, 0]
    scores = np.array([0.9, 0.6, 0.5, 0.2, 0.3, 0.1, 0.2, 0.4])
    ids, character_labels, character_scores, counts = aggregate_by_character(characters, labels, scores, min_lines=3)
    assert ids == ["a", "c"] and character_labels.tolist() == [1, 0] and counts.tolist() == [3, 3]  # "b" has 2 lines
    logit = np.log(scores / (1 - scores))
    expected = 1 / (1 + np.exp(-np.array([logit[:3].mean(), logit[5:].mean()])))
    np.testing.assert_allclose(character_scores, expected, atol=1e-8)


def test_character_level_keeps_each_characters_movie() -> None:
    split = {
        "label": [1, 1, 0, 0, 0],
        "movie_id": ["m1", "m1", "m2", "m2", "m2"],
        "character_id": ["u1", "u1", "u2", "u2", "u3"],
    }
    data = level_data(split, {"model": np.array([0.9, 0.8, 0.1, 0.2, 0.3])}, "character", min_lines=1)
    assert list(data["ids"]) == ["u1", "u2", "u3"] and data["movies"].tolist() == ["m1", "m2", "m2"]
    assert data["labels"].tolist() == [1, 0, 0]


# ------------------------------------------------------------------------------------------------ baselines
@pytest.fixture(scope="module")
def synthetic():
    import tempfile
    from pathlib import Path

    from tests.factories import synthetic_corpus, write_corpus_folder

    corpus = synthetic_corpus(n_movies=16, lines_per_character=25, seed=3)
    folder = write_corpus_folder(Path(tempfile.mkdtemp()), *corpus)
    dataset = build_dataset(folder, split="movie", validation_size=0.2, test_size=0.25)
    tokenizer = train_tokenizer(dataset["train"]["text"])
    embeddings = np.random.default_rng(0).normal(size=(tokenizer.get_vocab_size(), 6))
    for word in FEMALE_WORDS:  # one dimension carries gender, as GloVe's does weakly
        if tokenizer.token_to_id(word) is not None:
            embeddings[tokenizer.token_to_id(word), 0] += 3
    return dataset, BaselineResources(seed=0, tokenizer=tokenizer, embeddings=embeddings)


@pytest.mark.parametrize("name", ["tfidf_logreg", "glove_mean_logreg"])
def test_every_learned_baseline_learns_the_gendered_words(synthetic, name: str) -> None:
    dataset, resources = synthetic
    baseline = fit_baseline(name, natural_train(dataset["train"]), resources)
    scores = score_baseline(name, baseline, dataset["test"])
    assert roc_auc_score(dataset["test"]["label"], scores) > 0.9


@pytest.mark.parametrize("name", ["tfidf_logreg", "glove_mean_logreg"])
def test_learned_baselines_weigh_the_classes_equally(synthetic, name: str) -> None:
    # No signal and 10% female: a class-balanced fit says 0.5, an unweighted one would say about 0.1.
    _, resources = synthetic
    train = {"text": ["you know what"] * 100, "label": [1] * 10 + [0] * 90}
    train["text"][0] = "what you know"  # TF-IDF needs more than one distinct row to have features that vary
    scores = score_baseline(name, fit_baseline(name, train, resources), {"text": ["you know what"]})
    assert scores[0] == pytest.approx(0.5, abs=0.06)


def test_always_male_scores_zero() -> None:
    scores = score_baseline(
        "always_male", fit_baseline("always_male", {"text": ["a", "b"], "label": [0, 1]}), {"text": ["x", "y", "z"]}
    )
    assert scores.tolist() == [0.0, 0.0, 0.0]


def test_mean_vectors_average_the_token_rows(synthetic) -> None:
    _, resources = synthetic
    tokenizer, matrix = resources.tokenizer, resources.embeddings
    ids = [tokenizer.token_to_id(w) for w in ("you", "know", "darling")]
    vectors = mean_vectors(tokenizer, matrix, ["You know darling", ""])
    np.testing.assert_allclose(vectors[0], matrix[ids].mean(axis=0))
    np.testing.assert_array_equal(vectors[1], np.zeros(matrix.shape[1]))


def test_a_registered_baseline_gets_its_extra_columns() -> None:
    seen = {}

    class Echo:
        def fit(self, texts, labels, **inputs):
            seen["fit"] = inputs
            return self

        def score(self, texts, **inputs):
            seen["score"] = inputs
            return np.full(len(texts), 0.25)

    register_baseline("echo_context", lambda r: Echo(), inputs=("context",))
    try:
        train = {"text": ["a"], "label": [1], "context": ["before"]}
        out = baseline_scores(["echo_context"], train, {"test": {"text": ["b", "c"], "context": ["x", "y"]}})
        assert out["test"]["echo_context"].tolist() == [0.25, 0.25]
        assert seen == {"fit": {"context": ["before"]}, "score": {"context": ["x", "y"]}}
        assert available_baselines(["echo_context", "always_male"], BaselineResources(), ["text"]) == ["always_male"]
        without_vectors = available_baselines(list(DEFAULT_BASELINES), BaselineResources(), ["text"])
        assert without_vectors == ["always_male", "tfidf_logreg"]
    finally:
        del BASELINES["echo_context"]


def test_natural_train_drops_the_oversampled_copies(synthetic) -> None:
    dataset, _ = synthetic
    train = dataset["train"]
    natural = natural_train(train)
    assert len(set(train["line_id"])) == len(natural) < len(train)
    assert sorted(natural["line_id"]) == sorted(set(train["line_id"]))
    female = sum(natural["label"])
    assert female < len(natural) / 2  # the natural class ratio, not the balanced one
    assert isinstance(TfidfLogreg().classifier.class_weight, str)


# ------------------------------------------------------------------------------------------------ the protocol
class ShiftedModel:
    """Scores lines by their gendered words, shifted so that every P(female) is above 0.5."""

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer

    def predict_proba(self, texts, batch_size: int = 512):
        def score(text: str) -> float:
            words = text.lower().replace(".", " ").replace("!", " ").replace("?", " ").split()
            return sum(w in FEMALE_WORDS for w in words) - sum(w in MALE_WORDS for w in words)

        return 1 / (1 + np.exp(-(np.array([score(t) for t in texts], dtype=float) + 6)))


def test_evaluate_chooses_thresholds_on_validation_and_reports_paired_differences(synthetic) -> None:
    dataset, resources = synthetic
    model = ShiftedModel(resources.tokenizer)
    report, scores = evaluate(
        model,
        dataset["train"],
        dataset["validation"],
        dataset["test"],
        min_lines=5,
        bootstrap=200,
        seed=0,
        resources=resources,
    )
    line = report["line"]
    assert set(line) == {"model", "always_male", "tfidf_logreg", "glove_mean_logreg", "difference", "calibration"}
    # At 0.5 the shifted model calls everything female; calibration on validation brings its probabilities back to
    # frequencies, and the threshold from validation (on the calibrated scale) separates the classes.
    assert (model.predict_proba(dataset["test"]["text"]) >= 0.5).all()
    assert line["calibration"]["ece_raw"] > 0.3 and line["calibration"]["ece"] < line["calibration"]["ece_raw"] / 2
    assert not (scores["line"]["model"] >= 0.5).all()
    assert line["model"]["balanced_accuracy"] > 0.9
    assert line["always_male"]["threshold"] == 0.5 and line["always_male"]["balanced_accuracy"] == 0.5
    for name in ("model", "always_male", "tfidf_logreg", "glove_mean_logreg"):
        assert {"threshold", "roc_auc", "average_precision", "balanced_accuracy", "ci95"} <= set(line[name])
        low, high = line[name]["ci95"]["roc_auc"]
        assert low <= line[name]["roc_auc"] <= high
    difference = line["difference"]["always_male"]
    assert difference["roc_auc"] == pytest.approx(line["model"]["roc_auc"] - 0.5)
    assert difference["roc_auc_ci95"][0] > 0
    # per character also the character baselines: a TF-IDF document per character (with and without what is said
    # around its lines), the averaged TF-IDF + context line scores and the two TF-IDF scorers summed (the stack, with
    # and without the line's context); none of them per line; each character scorer also with the partner term
    # fitted on train and validation (always male has none)
    character = {
        "tfidf_logreg",
        "glove_mean_logreg",
        "tfidf_character_logreg",
        "tfidf_character_context_logreg",
        "tfidf_context_logreg",
        "tfidf_stack",
        "tfidf_line_stack",
    }
    assert set(report["character"]["difference"]) == {"always_male"} | character | {f"{n}_partners" for n in character}
    terms = report["character"]["partner_terms"]
    assert set(terms) == {f"{n}_partners" for n in character}
    for term in terms.values():
        assert term["weight"] in (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5)
        assert (
            term["validation_auc"]
            and max(term["validation_auc"].values()) == term["validation_auc"][str(term["weight"])]
        )
    assert report["speaker_leak"] is False and report["character"]["speaker_leak"] is False
    text = format_report(report)
    assert text.index("ROC-AUC") < text.index("bal.acc") and "paired difference" in text
    # What the report chose for the model comes back as values (the config fields), never written into the model.
    decisions = model_decisions(report)
    assert decisions["threshold"] == line["model"]["threshold"]
    assert decisions["character_threshold"] == report["character"]["model"]["threshold"]
    assert decisions["calibration"]["line"] == line["calibration"]["parameters"]


def test_a_report_without_characters_decides_the_line_threshold_only() -> None:
    report = {"line": {"model": {"threshold": 0.4}}}
    assert model_decisions(report) == {"calibration": None, "threshold": 0.4}


def test_a_split_by_line_marks_character_results_as_leaking(synthetic, tmp_path, caplog) -> None:
    from tests.factories import synthetic_corpus, write_corpus_folder

    folder = write_corpus_folder(tmp_path, *synthetic_corpus(n_movies=8, lines_per_character=20, seed=1))
    dataset = build_dataset(folder, split="random", validation_size=0.2, test_size=0.3)
    _, resources = synthetic
    with caplog.at_level("WARNING"):
        report, _ = evaluate(
            ShiftedModel(resources.tokenizer),
            dataset["train"],
            dataset["validation"],
            dataset["test"],
            min_lines=3,
            bootstrap=0,
            resources=resources,
        )
    assert report["character"]["speaker_leak"] is True and "speaker_leak" in caplog.text
    assert "ci95" not in report["line"]["model"] and "roc_auc_ci95" not in report["line"]["difference"]["tfidf_logreg"]


@pytest.mark.parametrize("freeze", [True, False])
def test_the_glove_baseline_reads_the_models_vectors_only_while_they_are_glove(freeze: bool) -> None:
    from movie_gender import BiLSTMClassifier, BiLSTMConfig
    from movie_gender.evaluation.protocol import model_resources

    model = BiLSTMClassifier(BiLSTMConfig(vocab_size=12, embedding_dim=4, hidden_size=3, freeze_embeddings=freeze))
    resources = model_resources(model, seed=3)
    assert resources.seed == 3
    if freeze:
        np.testing.assert_array_equal(resources.embeddings, model.embedding.weight.detach().numpy())
    else:  # fine-tuned vectors are not GloVe: the mean-GloVe baseline is left out, not fitted on them
        assert resources.embeddings is None
        assert "glove_mean_logreg" not in available_baselines(DEFAULT_BASELINES, resources, ["text", "label"])
