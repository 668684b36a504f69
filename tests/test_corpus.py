"""load_cornell: every source kind gives the same joined Dataset; bad input gives errors naming file and line."""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from movie_gender import load_cornell
from movie_gender.configuration import CorpusSource
from movie_gender.data.corpus import read_corpus
from movie_gender.errors import CorpusFormatError, DownloadError
from tests.factories import SEP, write_corpus_folder


def _expected(lines: list[str], characters: list[str]) -> tuple[int, int]:
    gender = {c.split(SEP)[0]: c.split(SEP)[4].lower() for c in characters}
    codes = [gender[line.split(SEP)[1]] for line in lines]
    return codes.count("m"), codes.count("f")


def test_zip_gives_joined_lines_with_classlabel(corpus_zip: Path, corpus_files) -> None:
    ds = load_cornell(corpus_zip)
    male, female = _expected(*corpus_files)
    assert ds.column_names == [
        "line_id",
        "movie_id",
        "character_id",
        "character_name",
        "text",
        "label",
        "conversation_id",
        "turn",
        "context",
    ]
    assert ds.features["label"].names == ["male", "female"]
    assert ds["label"].count(0) == male and ds["label"].count(1) == female
    assert len(set(ds["movie_id"])) == 12


def test_corpus_order_is_kept_and_text_is_exact(corpus_zip: Path, corpus_files) -> None:
    lines, characters = corpus_files
    ds = load_cornell(corpus_zip)
    known = [line.split(SEP) for line in lines if line.split(SEP)[3] != "NARRATOR"]
    assert ds["line_id"] == [fields[0] for fields in known]
    assert ds["text"] == [fields[4] for fields in known]  # '\x85' inside text survives: split on '\n' only


def test_every_source_kind_gives_the_same_dataset(
    tmp_path: Path, corpus_zip: Path, corpus_folder: Path, corpus_files
) -> None:
    lines, characters = corpus_files
    reference = load_cornell(corpus_zip).to_dict()
    assert load_cornell(corpus_folder).to_dict() == reference
    assert load_cornell(corpus_folder / "cornell movie-dialogs corpus").to_dict() == reference
    assert load_cornell(corpus_zip.as_uri()).to_dict() == reference
    # The tutorial's collated file: line no, character id, movie id, name, gender, text, credit position.
    gender = {c.split(SEP)[0]: c.split(SEP)[4] for c in characters}
    collated = tmp_path / "collated.txt"
    rows = ["lineID +++$+++ characterID +++$+++ movieID +++$+++ name +++$+++ gender +++$+++ text +++$+++ position", ""]
    for line in lines:
        lid, cid, mid, name, text = line.split(SEP)
        rows.append(SEP.join([lid, cid, mid, name, gender[cid], text, "1"]))
    collated.write_bytes("\n".join(rows).encode("latin-1"))
    assert load_cornell(collated).to_dict() == reference


def test_http_download_is_cached_and_checked(http_server, corpus_zip: Path, _isolated_cache: Path) -> None:
    base, root, requests = http_server
    shutil.copy(corpus_zip, root / "corpus.zip")
    digest = hashlib.sha256(corpus_zip.read_bytes()).hexdigest()
    first = load_cornell(f"{base}/corpus.zip", sha256=digest)
    second = load_cornell(f"{base}/corpus.zip")
    assert first.to_dict() == second.to_dict() == load_cornell(corpus_zip).to_dict()
    assert requests == ["/corpus.zip"]  # the second call used the cache
    cached = list(_isolated_cache.rglob("corpus.zip"))
    assert len(cached) == 1 and not list(_isolated_cache.rglob("*.incomplete"))


def test_http_checksum_mismatch_leaves_nothing_in_cache(http_server, corpus_zip: Path, _isolated_cache: Path) -> None:
    base, root, _ = http_server
    shutil.copy(corpus_zip, root / "corpus.zip")
    with pytest.raises(DownloadError, match="sha256 mismatch"):
        load_cornell(f"{base}/corpus.zip", sha256="0" * 64)
    assert not [p for p in _isolated_cache.rglob("*") if p.is_file() and not p.name.endswith(".lock")]


def test_unreachable_url_is_a_clear_error(http_server) -> None:
    base, _, _ = http_server
    with pytest.raises(DownloadError, match="corpus.zip: download failed"):
        load_cornell(f"{base}/missing/corpus.zip")


def test_truncated_zip(tmp_path: Path, corpus_zip: Path) -> None:
    broken = tmp_path / "broken.zip"
    broken.write_bytes(corpus_zip.read_bytes()[:500])
    with pytest.raises(CorpusFormatError, match="broken.zip: not a readable zip"):
        load_cornell(broken)


def test_zip_without_the_corpus_files(tmp_path: Path) -> None:
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("something/else.txt", "hello")
    with pytest.raises(CorpusFormatError, match="holds no movie_lines.txt"):
        load_cornell(other)


def test_folder_without_the_corpus_files(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusFormatError, match="holds no movie_lines.txt"):
        load_cornell(tmp_path / "empty")


def test_wrong_field_count_names_file_and_line(tmp_path: Path, corpus_files) -> None:
    lines, characters = corpus_files
    lines = lines[:6] + ["L1 +++$+++ u0 +++$+++ only three fields"] + lines[6:]
    folder = write_corpus_folder(tmp_path / "c", lines, characters)
    with pytest.raises(CorpusFormatError, match=r"movie_lines.txt:7: expected 5 fields"):
        load_cornell(folder)
    ds, stats = read_corpus(CorpusSource(folder, skip_bad_lines=True))
    assert stats.skipped_bad_lines == 1 and "movie_lines.txt:7" in stats.skipped_examples[0]
    assert len(ds) == len(load_cornell(write_corpus_folder(tmp_path / "ok", *corpus_files)))


def test_unknown_gender_code_and_missing_character(tmp_path: Path, corpus_files) -> None:
    lines, characters = corpus_files
    characters = [characters[0].replace(f"{SEP}m{SEP}", f"{SEP}x{SEP}")] + characters[1:]
    folder = write_corpus_folder(tmp_path / "c", lines, characters)
    with pytest.raises(CorpusFormatError, match=r"movie_characters_metadata.txt:1: unknown gender code 'x'"):
        load_cornell(folder)
    _, stats = read_corpus(CorpusSource(folder, skip_bad_lines=True))
    u0_lines = sum(line.split(SEP)[1] == "u0" for line in lines)
    assert stats.skipped_bad_lines == 1 + u0_lines  # the bad metadata line, then each line of that character


def test_sample_zip_counts(sample_zip: Path) -> None:
    ds, stats = read_corpus(sample_zip)
    assert (stats.male, stats.female, stats.unknown_gender, stats.lines_read) == (27_660, 8_435, 9_790, 45_885)
    assert ds["label"].count(1) == 8_435
    with zipfile.ZipFile(sample_zip) as archive:
        raw = archive.read("cornell movie-dialogs corpus/movie_lines.txt").decode("latin-1")
    assert len({line.split(SEP)[2] for line in raw.split("\n") if line}) == 101


def test_sample_served_over_http(http_server, sample_zip: Path) -> None:
    base, root, requests = http_server
    shutil.copy(sample_zip, root / "cornell_movie_dialogs_corpus.zip")
    ds = load_cornell(
        f"{base}/cornell_movie_dialogs_corpus.zip",
        sha256="7812c49bbe2228cc65127ba9feda8156db7adffab1a4accacb7cae8ff300c283",
    )
    assert len(ds) == 27_660 + 8_435


def test_interrupted_download_is_never_used(tmp_path: Path, corpus_zip: Path, _isolated_cache: Path) -> None:
    import http.server
    import threading

    payload = corpus_zip.read_bytes()

    class Truncating(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:  # promise the whole zip, send half, hang up
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            self.close_connection = True

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Truncating)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/corpus.zip"
        with pytest.raises(DownloadError, match="corpus.zip: download"):
            load_cornell(url)
    finally:
        server.shutdown()
        server.server_close()
    # nothing that could pass for the zip (the download lock stays, empty)
    assert not [p for p in _isolated_cache.rglob("*") if p.is_file() and not p.name.endswith(".lock")]


# --- The regular-file fast path gives exactly the fields of the general splitter, or steps aside -----------------


def _both_ways(text: str, n_fields: int):
    """(fast path fields or None, general path fields) of one file's text."""
    from movie_gender.data.corpus_records import CorpusStats, RecordReader, split_regular

    fast = split_regular(text.encode("utf-8"), n_fields)
    general = RecordReader(CorpusStats(), skip_bad_lines=True).split_general("f", text, n_fields)
    fields = None
    if fast is not None:
        assert (fast.numbers == general.numbers).all()
        fields = [fast.field(k).to_pylist() for k in range(n_fields)]
    return fields, [general.field(k).to_pylist() for k in range(n_fields)]


@pytest.mark.parametrize(
    "text",
    [
        "L1 +++$+++ u0 +++$+++ Hi.\nL2 +++$+++ u1 +++$+++ Bye.\n",
        "L1 +++$+++ u0 +++$+++ Hi.\nL2 +++$+++ u1 +++$+++ no newline at the end",
        "L1 +++$+++ u0 +++$+++ It costs $5 +++ tax, $+++ and +++$ too.\n",  # '$' and '+' inside the text
        "L1 +++$+++ u0 +++$+++\nL2 +++$+++ u1 +++$+++ \n",  # empty last field, trailing space stripped or kept
        "L1 +++$+++ u0 +++$+++",  # ... and at the end of the file
        " +++$+++ u0 +++$+++ empty first field\nL2 +++$+++  +++$+++ empty middle field\n",
        "L1 +++$+++ u0 +++$+++ caf\u00e9 \u2026 \x85 na\u00efve\n",  # non-ASCII text, '\x85' inside a line
        "  L1  +++$+++ u0 +++$+++   spaces kept as they are   \n",
    ],
)
def test_fast_path_matches_the_general_splitter(text: str) -> None:
    fast, general = _both_ways(text, 3)
    assert fast is not None, "a regular file must take the fast path"
    assert fast == general


@pytest.mark.parametrize(
    "text",
    [
        "L1 +++$+++ u0 +++$+++ Hi.\n\nL2 +++$+++ u1 +++$+++ Bye.\n",  # blank line
        "L1 +++$+++ u0 +++$+++ Hi.\r\nL2 +++$+++ u1 +++$+++ Bye.\r\n",  # CRLF
        "L1 +++$+++ u0 +++$+++ Hi.\nL2 +++$+++ Bye.\n",  # too few fields
        "L1 +++$+++ u0 +++$+++ Hi.\nL2 +++$+++ u1 +++$+++ B +++$+++ ye.\n",  # a separator inside the last field
        "L1 +++$+++ u0 +++$+++ +++$+++ Hi.\n",  # two separators sharing a space
        "L1 +++$+++ u0 +++$+++ A.\nL2 +++$+++ u1 +++$+++ B +++$+++ C.\nL3 +++$+++ D.\n",  # counts add up overall only
        "short",
    ],
)
def test_irregular_files_take_the_general_path(text: str) -> None:
    fast, general = _both_ways(text, 3)
    assert fast is None


def test_fast_path_matches_on_the_sample_files(sample_zip: Path) -> None:
    with zipfile.ZipFile(sample_zip) as archive:
        for name, n_fields in (("movie_lines.txt", 5), ("movie_characters_metadata.txt", 6)):
            member = next(m for m in archive.namelist() if m.endswith("/" + name))
            fast, general = _both_ways(archive.read(member).decode("latin-1"), n_fields)
            assert fast is not None and fast == general


def test_records_cut_out_only_the_rows_asked_for() -> None:
    from movie_gender.data.corpus_records import split_regular

    data = "".join(f"L{i} +++$+++ u{i % 3} +++$+++ text {i}\n" for i in range(10)).encode()
    records = split_regular(data, 3)
    rows = np.array([0, 3, 9])
    assert records.field(0, rows).to_pylist() == ["L0", "L3", "L9"]
    assert records.columns({"text": 2, "id": 0}, rows) == {
        "text": pa.array(["text 0", "text 3", "text 9"]),
        "id": pa.array(["L0", "L3", "L9"]),
    }


@pytest.mark.parametrize(
    "text, trimmed",
    [
        ("L1 +++$+++ u0 +++$+++  text with spaces around \nL2 +++$+++ u1 +++$+++ B.\n", True),  # the text is not an id
        (" L1 +++$+++ u0 +++$+++ A.\n", False),
        ("L1 +++$+++ u0\t +++$+++ A.\n", False),
        ("L1 +++$+++  +++$+++ empty id\n", False),
        ("L1 +++$+++ \u00a0u0 +++$+++ A.\n", False),  # a non-breaking space is whitespace too
    ],
)
def test_fast_path_knows_when_identifiers_need_trimming(text: str, trimmed: bool) -> None:
    from movie_gender.data.corpus_records import split_regular

    assert split_regular(text.encode("utf-8"), 3).trimmed is trimmed


def test_padded_identifiers_are_trimmed_on_either_path(tmp_path: Path, corpus_files) -> None:
    lines, characters = corpus_files
    reference = load_cornell(write_corpus_folder(tmp_path / "plain", lines, characters)).to_dict()
    padded = [SEP.join([f" {f}\t" if i < 4 else f for i, f in enumerate(line.split(SEP))]) for line in lines]
    assert load_cornell(write_corpus_folder(tmp_path / "padded", padded, characters)).to_dict() == reference
