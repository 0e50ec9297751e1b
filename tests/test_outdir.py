"""svccakit._outdir: overwrite replaces only what svccakit wrote, and never through a link.

The rule is shared by every writer: `svccakit run` (run_experiment), `svccakit depth`
(run_depth) and `svccakit dynamics`; each has an end-to-end test below.
"""

from __future__ import annotations

import json
import os

import pytest

from svccakit import _outdir as outdir
from svccakit.cli import main

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


# ------------------------------------------------------------------- the manifest rule

TARGETS = ("report.md", "runs/a.h5", "runs/b.h5")


def write(out, targets=TARGETS, *, overwrite=True, fail=False):
    """A writer: writes ``targets`` through open_out_dir (raising half-way if ``fail``)."""
    with outdir.open_out_dir(out, OUTPUTS, targets, overwrite=overwrite, what="demo") as od:
        for i, rel in enumerate(targets):
            path = od.path / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"svccakit {rel}")
            if fail and i == 0:
                raise RuntimeError("the run failed half-way")


def manifest(out):
    return json.loads((out / outdir.MANIFEST).read_text())


def test_manifest_lists_what_was_written(tmp_path):
    out = tmp_path / "o"
    write(out, overwrite=False)
    data = manifest(out)
    assert data["format"] == "svccakit-outputs"
    assert sorted(data["files"]) == sorted(TARGETS)
    assert data["pending"] == []
    assert data["files"]["report.md"]["size"] == len("svccakit report.md")


def test_overwrite_replaces_its_own_files_and_keeps_the_users(tmp_path):
    out = tmp_path / "o"
    write(out, overwrite=False)
    (out / "runs" / "mine.h5").write_text("the user's")
    (out / "notes.txt").write_text("the user's")
    write(out, ("report.md", "runs/a.h5"))  # b.h5 is no longer written: it goes
    assert (out / "runs" / "mine.h5").read_text() == "the user's"
    assert (out / "notes.txt").read_text() == "the user's"
    assert not (out / "runs" / "b.h5").exists()
    assert sorted(manifest(out)["files"]) == ["report.md", "runs/a.h5"]


def test_a_file_svccakit_did_not_write_is_never_replaced(tmp_path):
    out = tmp_path / "o"
    (out / "runs").mkdir(parents=True)
    (out / "runs" / "a.h5").write_text("the user's")
    with pytest.raises(FileExistsError, match=r"holds files that svccakit did not write .* "
                                              r"where it would write: runs/a.h5"):
        write(out)
    assert (out / "runs" / "a.h5").read_text() == "the user's"


def test_a_file_changed_since_svccakit_wrote_it_is_not_replaced(tmp_path):
    out = tmp_path / "o"
    write(out, overwrite=False)
    (out / "report.md").write_text("edited by hand, longer than before")
    with pytest.raises(FileExistsError, match="where it would write: report.md"):
        write(out)
    # nor deleted as a stale output
    (out / "runs" / "b.h5").write_text("edited too, and longer than it was")
    (out / "report.md").unlink()
    write(out, ("report.md", "runs/a.h5"))
    assert (out / "runs" / "b.h5").read_text() == "edited too, and longer than it was"


def test_a_failed_run_keeps_its_files_replaceable(tmp_path):
    out = tmp_path / "o"
    write(out, overwrite=False)
    with pytest.raises(RuntimeError, match="half-way"):
        write(out, ("report.md",), fail=True)
    assert sorted(manifest(out)["files"]) == sorted(TARGETS)  # nothing forgotten
    write(out)  # and the next overwrite may replace every one of them


def test_a_killed_run_keeps_its_files_replaceable(tmp_path):
    out = tmp_path / "o"
    od = outdir.open_out_dir(out, OUTPUTS, TARGETS, overwrite=False, what="demo")
    (od.path / "report.md").write_text("half written")  # then the process is killed
    assert sorted(manifest(out)["pending"]) == sorted(TARGETS)
    write(out)
    assert (out / "report.md").read_text() == "svccakit report.md"


@pytest.mark.parametrize("rel", ["../victim.txt", "/tmp/victim.txt", "runs/../../victim.txt"])
def test_a_crafted_manifest_cannot_delete_outside(tmp_path, rel):
    out = tmp_path / "o"
    write(out, overwrite=False)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    st = victim.stat()
    data = manifest(out)
    data["files"][rel] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    (out / outdir.MANIFEST).write_text(json.dumps(data))
    write(out)
    assert victim.read_text() == "keep me"


def test_links_are_never_written_through(tmp_path):
    out = tmp_path / "o"
    write(out, overwrite=False)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "a.h5").write_text("not svccakit's")
    for child in (out / "runs").iterdir():
        child.unlink()
    (out / "runs").rmdir()
    (out / "runs").symlink_to(elsewhere)
    with pytest.raises(FileExistsError, match="runs is a symbolic link; svccakit never writes"):
        write(out)
    assert (elsewhere / "a.h5").read_text() == "not svccakit's"
    (out / "runs").unlink()
    (out / "runs").mkdir()
    (out / "runs" / "a.h5").symlink_to(elsewhere / "a.h5")
    with pytest.raises(FileExistsError, match="runs/a.h5 where svccakit would write a file is a "
                                              "symbolic link"):
        write(out)
    assert (elsewhere / "a.h5").read_text() == "not svccakit's"


def test_targets_must_stay_inside(tmp_path):
    with pytest.raises(ValueError, match=r"targets: '../x' is not a relative path under"):
        outdir.open_out_dir(tmp_path, OUTPUTS, ["../x"], overwrite=False, what="demo")
    with pytest.raises(ValueError, match=r"targets: 'other/x' is not a relative path under"):
        outdir.open_out_dir(tmp_path, OUTPUTS, ["other/x"], overwrite=False, what="demo")


# ------------------------------------------------------------- every writer, end to end

TINY = """\
depth = 3
width = 8
steps = 24
seeds = [0]
n_jobs = 1
activations = ["relu"]
inits = ["critical"]
[task]
n_bits = 6
n_train = 48
n_probe = 64
[optimiser]
batch_size = 16
[schedule]
n = 5
[timeline]
baseline_n = 0
metrics = {metrics}
"""


def test_svccakit_run_overwrite_keeps_the_users_files(tmp_path, capsys):
    first, second = tmp_path / "first.toml", tmp_path / "second.toml"
    first.write_text(TINY.format(metrics='["svcca", "cka"]'))
    second.write_text(TINY.format(metrics='["svcca"]'))
    out = tmp_path / "o"
    assert main(["run", "--config", str(first), "--out", str(out), "--quiet"]) == 0
    cka = sorted(p.name for p in (out / "figures").glob("*_cka.png"))
    assert cka  # one figure per metric and kind
    (out / "figures" / "mine.png").write_bytes(b"\x89PNG the user's figure")
    assert main(["run", "--config", str(second), "--out", str(out), "--quiet",
                 "--overwrite"]) == 0
    assert (out / "figures" / "mine.png").read_bytes() == b"\x89PNG the user's figure"
    assert not list((out / "figures").glob("*_cka.png"))  # svccakit's, no longer made
    svcca = sorted(p.name for p in (out / "figures").glob("*_svcca.png"))
    assert svcca == [name.replace("_cka", "_svcca") for name in cka]

    # a `figures` link to a folder of pictures: refused, nothing in it touched
    pics = tmp_path / "pics"
    pics.mkdir()
    (pics / "holiday.png").write_bytes(b"\x89PNG")
    (pics / svcca[0]).write_bytes(b"\x89PNG same name")
    for child in (out / "figures").iterdir():
        child.unlink()
    (out / "figures").rmdir()
    (out / "figures").symlink_to(pics)
    capsys.readouterr()
    assert main(["run", "--config", str(second), "--out", str(out), "--quiet",
                 "--overwrite"]) == 1
    assert "figures is a symbolic link" in capsys.readouterr().err
    assert sorted(os.listdir(pics)) == sorted([svcca[0], "holiday.png"])
    assert (pics / svcca[0]).read_bytes() == b"\x89PNG same name"


def test_svccakit_depth_overwrite_refuses_files_it_did_not_write(tmp_path):
    from svccakit.depth import experiment as dp

    config = dp.DepthConfig(
        experiment=dp._experiment(noises=["dropout:0.5"], width=8, steps=4,
                                  task={"name": "digits", "n_train": 100, "n_val": 50,
                                        "n_probe": 8}),
        depths=(1,), variance_max_depth=4, variance_width=8, variance_n_sigma=2)
    out = tmp_path / "o"
    (out / "figures").mkdir(parents=True)
    (out / "figures" / "variance.png").write_bytes(b"the user's")
    with pytest.raises(FileExistsError, match="where it would write: figures/variance.png"):
        dp.run_depth(config, out, n_jobs=1, overwrite=True)
    assert (out / "figures" / "variance.png").read_bytes() == b"the user's"
    assert not (out / "runs").exists()  # refused before any work

    pics = tmp_path / "pics"
    pics.mkdir()
    (pics / "variance.png").write_bytes(b"elsewhere")
    (out / "figures" / "variance.png").unlink()
    (out / "figures").rmdir()
    (out / "figures").symlink_to(pics)
    with pytest.raises(FileExistsError, match="figures is a symbolic link"):
        dp.run_depth(config, out, n_jobs=1, overwrite=True)
    assert (pics / "variance.png").read_bytes() == b"elsewhere"


def test_svccakit_dynamics_overwrite_refuses_files_it_did_not_write(tmp_path, capsys,
                                                                    monkeypatch):
    from svccakit.meanfield import dynamics as dy

    tiny = dy.FigureConfig(width=20, depth=3, n_inputs=4, n_networks=2, jacobian_width=20,
                           jacobian_depths=(2, 3), jacobian_networks=2, c0s=(0.0, 1.0),
                           spectrum_activations=("relu",), spectrum_q_stars=(1.0,),
                           jacobian_noises=("dropout:0.8",), density_depths=(3,),
                           density_points=40, map_cs=(0.0, 1.0), map_networks=2)
    monkeypatch.setattr(dy.FigureConfig, "quick", classmethod(lambda cls, seed=0: tiny))
    out = tmp_path / "o"
    out.mkdir()
    (out / "variance.png").write_bytes(b"the user's")
    assert main(["dynamics", "--out", str(out), "--quick", "--quiet", "--force"]) == 1
    assert "where it would write: variance.png" in capsys.readouterr().err
    assert (out / "variance.png").read_bytes() == b"the user's"

    (out / "variance.png").unlink()
    outside = tmp_path / "outside.csv"
    outside.write_text("keep")
    (out / "jacobian.csv").symlink_to(outside)
    assert main(["dynamics", "--out", str(out), "--quick", "--quiet", "--overwrite"]) == 1
    assert "jacobian.csv is a symbolic link" in capsys.readouterr().err
    assert outside.read_text() == "keep"

    (out / "jacobian.csv").unlink()
    assert main(["dynamics", "--out", str(out), "--quick", "--quiet"]) == 0
    (out / "mine.txt").write_text("the user's")
    assert main(["dynamics", "--out", str(out), "--quick", "--quiet", "--overwrite"]) == 0
    assert (out / "mine.txt").read_text() == "the user's"
