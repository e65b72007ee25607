"""The markers that make a folder ours (``.dropsynth``, the exporters',
utility training's ``.training``): written whole or not at all, and a damaged
one (an older version's crash mid-write) read with one clear line. No GL."""
from __future__ import annotations

import errno
import json
import logging
import os

import pytest

from dropsynth import atomic
from dropsynth.errors import ConfigError
from dropsynth.writers.files import check_replaceable, marker_state
from dropsynth.writers.outdir import MARKER, REPLACED, RUN_CONFIG, prepare_output

FP = {"seed": 1, "config": {"scenes": 2}}


@pytest.mark.parametrize("content, state, detail", [
    (b'{"tool": "dropsynth", "version": "0.1.0"}\n', "ok", ""),
    (b'{\n  "tool": "dropsynth",\n  "source": "/d",\n  "counts": {}\n}\n', "ok", ""),  # YOLO's, indented
    (b"", "damaged", "empty"),  # killed between open and write
    (b"\0" * 42, "damaged", "42 bytes of zeros or blanks"),  # a power cut that kept the size, not the data
    (b'{"tool": "dro', "damaged", "cut off after 13 bytes"),
    (b'{\n  "tool": "dropsynth",\n  "sou', "damaged", "cut off after 31 bytes"),
    (b"my notes", "damaged", "not the JSON dropsynth writes"),
    (b"{}", "damaged", "not the JSON dropsynth writes"),
])
def test_marker_states(tmp_path, content, state, detail):
    (tmp_path / MARKER).write_bytes(content)
    assert marker_state(tmp_path / MARKER) == (state, detail)


def test_a_missing_marker_and_a_folder_in_its_place(tmp_path):
    assert marker_state(tmp_path / MARKER)[0] == "missing"
    (tmp_path / MARKER).mkdir()
    assert marker_state(tmp_path / MARKER) == ("damaged", "not a file")


def test_the_output_marker_is_whole_json_and_leaves_no_temporary(tmp_path):
    out = tmp_path / "run"
    prepare_output(out, overwrite=False, fingerprint=FP)
    assert json.loads((out / MARKER).read_text())["tool"] == "dropsynth"
    assert sorted(os.listdir(out)) == [MARKER, RUN_CONFIG]


def test_a_full_disk_while_writing_the_marker_leaves_no_marker(tmp_path, monkeypatch):
    def full(path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic, "_fsync_file", full)  # the write went to the temporary; its flush fails
    out = tmp_path / "run"
    with pytest.raises(ConfigError, match=r"^--out .*run: cannot write there \(No space left on device\)$"):
        prepare_output(out, overwrite=False, fingerprint=FP)
    assert os.listdir(out) == []  # neither a cut-off marker nor its temporary


def _old_crash(out, marker_bytes=b""):
    """What a run of a version before the atomic marker left when killed
    while writing it: the marker cut off, and (a later run's) files beside it."""
    out.mkdir()
    (out / MARKER).write_bytes(marker_bytes)
    (out / "rgb").mkdir()
    (out / "rgb" / "000000.png").write_bytes(b"png")
    return out


def test_overwrite_replaces_a_folder_whose_marker_was_cut_off_and_says_so(tmp_path, caplog):
    out = _old_crash(tmp_path / "run")
    with caplog.at_level(logging.WARNING):
        assert prepare_output(out, overwrite=True, fingerprint=FP) is False
    assert json.loads((out / MARKER).read_text())["tool"] == "dropsynth"  # made whole
    assert (out / REPLACED / "rgb" / "000000.png").is_file()  # moved aside as any previous output is
    warning, = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert str(out / MARKER) in warning and "damaged marker (empty)" in warning and "\n" not in warning


def test_without_overwrite_a_cut_off_marker_changes_nothing(tmp_path):
    out = _old_crash(tmp_path / "run")
    with pytest.raises(ConfigError, match="folder is not empty"):
        prepare_output(out, overwrite=False, fingerprint=FP)
    assert (out / MARKER).read_bytes() == b"" and (out / "rgb" / "000000.png").is_file()


def test_any_file_named_like_the_marker_still_marks_the_folder_as_ours(tmp_path, caplog):
    """The name is the contract (README: a folder holding a .dropsynth
    marker), as before; other content only earns a warning naming the file."""
    out = _old_crash(tmp_path / "run", b"{}")
    with caplog.at_level(logging.WARNING):
        prepare_output(out, overwrite=True, fingerprint=FP)
    assert any(f"{out / MARKER}: damaged marker (not the JSON dropsynth writes)" in r.getMessage()
               for r in caplog.records)
    assert marker_state(out / MARKER)[0] == "ok"


def test_resume_of_a_run_that_died_writing_its_marker_says_to_start_again(tmp_path):
    out = _old_crash(tmp_path / "run")
    with pytest.raises(ConfigError, match=rf"^--resume: {out / RUN_CONFIG}: not found: the run in .* stopped "
                                          rf"before it saved its config, so it wrote no frames; start it again "
                                          rf"with --overwrite$"):
        prepare_output(out, overwrite=False, resume=True, fingerprint=FP)


def test_resume_with_a_damaged_run_config_names_it(tmp_path):
    out = _old_crash(tmp_path / "run", b'{"tool": "dropsynth"}')
    (out / RUN_CONFIG).write_text('{"seed": 1, "conf')
    with pytest.raises(ConfigError, match=rf"^--resume: {out / RUN_CONFIG}: damaged, cannot read the config"):
        prepare_output(out, overwrite=False, resume=True, fingerprint=FP)


def test_resume_makes_a_cut_off_marker_whole(tmp_path):
    out = _old_crash(tmp_path / "run", b'{"tool": "drop')
    (out / RUN_CONFIG).write_text(json.dumps(FP))
    assert prepare_output(out, overwrite=False, resume=True, fingerprint=FP) is True
    assert marker_state(out / MARKER)[0] == "ok"
    assert (out / "rgb" / "000000.png").is_file()


def test_an_export_folder_with_a_cut_off_marker_is_replaceable(tmp_path, caplog):
    exp = tmp_path / "yolo"
    exp.mkdir()
    (exp / "data.yaml").write_text("x")
    (exp / ".dropsynth-yolo").write_bytes(b"\0" * 100)
    with caplog.at_level(logging.WARNING):
        assert check_replaceable(exp, True, ".dropsynth-yolo", "YOLO") is True
    assert any(f"{exp / '.dropsynth-yolo'}: damaged marker (100 bytes of zeros or blanks)" in r.getMessage()
               for r in caplog.records)
    (exp / ".dropsynth-yolo").unlink()
    with pytest.raises(ConfigError, match=r"not a dropsynth YOLO export \(no \.dropsynth-yolo\)"):
        check_replaceable(exp, True, ".dropsynth-yolo", "YOLO")


class _Stop(Exception):
    pass


def test_training_marker_is_atomic_and_a_damaged_one_still_marks_the_run(tmp_path, monkeypatch, caplog):
    """train(): its marker holds its pid, written through the temporary name;
    --overwrite of a run that died while an older version wrote an empty
    marker replaces it, with a warning naming the file."""
    from dropsynth.utility import train as tr

    seen = {}

    def stop_after_marker(data, out, **kw):
        run = out.parent
        seen["files"] = sorted(os.listdir(run))
        seen["marker"] = (run / tr.TRAINING).read_text()
        raise _Stop

    monkeypatch.setattr(tr, "require_extra", lambda: None)
    monkeypatch.setattr(tr, "prepare_data", stop_after_marker)
    run = tmp_path / "train"
    run.mkdir()
    (run / tr.TRAINING).write_bytes(b"")  # an older version's crash
    (run / "results.csv").write_text("epoch\n")
    with pytest.raises(ConfigError, match="exists and is not empty"):
        tr.train(tmp_path / "ds", run)
    with caplog.at_level(logging.WARNING), pytest.raises(_Stop):
        tr.train(tmp_path / "ds", run, overwrite=True)
    assert seen == {"files": [tr.TRAINING], "marker": str(os.getpid())}
    assert any(str(run / tr.TRAINING) in r.getMessage() and "damaged marker (empty)" in r.getMessage()
               for r in caplog.records)
    (run / tr.TRAINING).unlink()
    (run / "mine.txt").write_text("a folder train did not make")
    with pytest.raises(ConfigError, match="not a dropsynth training run; refusing to replace it"):
        tr.train(tmp_path / "ds", run, overwrite=True)
