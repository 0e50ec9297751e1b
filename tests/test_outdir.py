"""svccakit.outdir: refusing to overwrite an experiment's outputs."""

from __future__ import annotations

import pytest

from svccakit import _outdir as outdir

OUTPUTS = ("report.md", "runs")


def test_prepare_creates_the_directory_and_lists_nothing(tmp_path):
    out = outdir.prepare_out_dir(tmp_path / "a" / "b", OUTPUTS, overwrite=False, what="demo")
    assert out.is_dir()
    assert outdir.existing_outputs(out, OUTPUTS) == []


def test_existing_outputs_are_refused_unless_overwrite(tmp_path):
    (tmp_path / "runs").mkdir()
    (tmp_path / "report.md").write_text("x")
    (tmp_path / "other.txt").write_text("x")
    assert outdir.existing_outputs(tmp_path, OUTPUTS) == [tmp_path / "report.md", tmp_path / "runs"]
    with pytest.raises(FileExistsError, match=r"already holds demo outputs \(report.md, runs\); "
                                              r"choose another directory or pass overwrite=True"):
        outdir.prepare_out_dir(tmp_path, OUTPUTS, overwrite=False, what="demo")
    assert outdir.prepare_out_dir(str(tmp_path), OUTPUTS, overwrite=True, what="demo") == tmp_path


def test_bad_out_dir(tmp_path):
    with pytest.raises(TypeError, match="out_dir must be a path, got int"):
        outdir.prepare_out_dir(3, OUTPUTS, overwrite=False, what="demo")
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError, match="exists and is not a directory"):
        outdir.prepare_out_dir(tmp_path / "file", OUTPUTS, overwrite=True, what="demo")
