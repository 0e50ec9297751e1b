"""Corrupt and crafted run files: open_run, Run and `svccakit inspect` raise only
RunFileError (one line, naming the file), follow no link out of the file, allocate only
what the file holds, and print names from the file safely."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest
import torch
from torch import nn

import svccakit
from svccakit.cli import main
from svccakit.exceptions import RunFileError


def write_run(path, n=3, **kw):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2))
    with svccakit.Recorder(model, (torch.randn(5, 4), torch.arange(5)), path,
                           config={"lr": 0.1}, seed=3, **kw) as rec:
        for step in range(n):
            rec.record(10 * step, loss=float(step))
    return path


def read_everything(path):
    """Every public read of a Run, as a user or `inspect` would do them."""
    with svccakit.open_run(path) as run:
        t = len(run)
        run.steps, run.metrics, run.config, run.attrs, run.probe, run.probe_targets  # noqa: B018
        for name in run.layer_names:
            run.layer_info(name)
            run.layer_shape(name)
            for i in range(t):
                run.activations(name, i)
        return t


def inspect_one_line(path, capsys):
    """`svccakit inspect` exits 1 with one line and no traceback."""
    assert main(["inspect", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("svccakit inspect: error: ")
    assert err.count("\n") == 1, err
    return err


# ------------------------------------------------------------------ crafted layouts


def craft(tmp_path, edit, name="crafted.h5"):
    path = write_run(tmp_path / name)
    with h5py.File(path, "r+") as f:
        edit(f)
    return path


def _drop_probe_inputs(f):
    del f["probe/inputs"]


def _bad_order(f):
    f["layers"].attrs["order"] = np.array(["0", "nope", "2"], dtype=h5py.string_dtype())


def _order_not_text(f):
    f["layers"].attrs["order"] = np.arange(3)


def _steps_longer_than_layers(f):
    f["steps"].resize((6,))
    f["steps"][:] = np.arange(6) * 10


def _steps_not_increasing(f):
    f["steps"][:] = [0, 10, 10]


def _layer_wrong_probe_rows(f):
    del f["layers/1"]
    f["layers"].create_dataset("1", data=np.zeros((3, 7, 6), np.float32))


def _layer_of_strings(f):
    del f["layers/1"]
    f["layers"].create_dataset("1", data=np.array([[["a"] * 6] * 5] * 3, dtype="S1"))


def _metrics_is_a_dataset(f):
    del f["metrics"]
    f["metrics"] = np.zeros(3)


def _format_version_text(f):
    f.attrs["format_version"] = "one"


def _format_version_array(f):
    f.attrs["format_version"] = np.array([1, 1])


@pytest.mark.parametrize(("edit", "match"), [
    (_drop_probe_inputs, r"/probe/inputs is missing"),
    (_bad_order, r"/layers.order does not list the layer datasets"),
    (_order_not_text, r"/layers.order does not list the layer datasets"),
    (_steps_longer_than_layers, r"has 3 (values|snapshots) but /steps lists 6"),
    (_layer_wrong_probe_rows, r"/layers/1 has shape \(3, 7, 6\), expected \(T, 5, ...\)"),
    (_layer_of_strings, r"/layers/1 has dtype \|S1, not a numeric array"),
    (_metrics_is_a_dataset, r"/metrics is a dataset, not a group"),
    (_format_version_text, r"format_version 'one'"),
    (_format_version_array, r"format_version array\(\[1, 1\]\)"),
])
def test_crafted_layouts_raise_run_file_error(tmp_path, capsys, edit, match):
    path = craft(tmp_path, edit)
    with pytest.raises(RunFileError, match=match) as info:
        read_everything(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)
    err = inspect_one_line(path, capsys)
    assert "Traceback" not in err


def test_steps_that_are_not_increasing_are_refused(tmp_path, capsys):
    path = craft(tmp_path, _steps_not_increasing)
    with svccakit.open_run(path) as run, pytest.raises(
            RunFileError, match="/steps is not a strictly increasing list"):
        run.steps  # noqa: B018
    inspect_one_line(path, capsys)


def test_config_that_is_not_json_names_the_file(tmp_path, capsys):
    path = craft(tmp_path, lambda f: f.attrs.__setitem__("config", "{not json"))
    with svccakit.open_run(path) as run, pytest.raises(
            RunFileError, match=r"crafted.h5: the root attribute 'config' is not valid JSON"):
        run.config  # noqa: B018
    inspect_one_line(path, capsys)
    path = craft(tmp_path, lambda f: f.attrs.__setitem__("config", "[1, 2]"), "list.h5")
    with svccakit.open_run(path) as run, pytest.raises(RunFileError, match="expected an object"):
        run.config  # noqa: B018


# ------------------------------------------------------------------ links and sizes


def test_external_links_are_refused_not_followed(tmp_path, capsys):
    secret = tmp_path / "secret.h5"
    with h5py.File(secret, "w") as f:
        f["data"] = np.full((3, 5, 6), 42.0, np.float32)

    def link(f):
        f["layers/ext"] = h5py.ExternalLink(str(secret), "/data")
        f["layers"].attrs["order"] = np.array(["0", "1", "2", "ext"], dtype=h5py.string_dtype())

    path = craft(tmp_path, link)
    with pytest.raises(RunFileError, match=r"/layers/ext is an external link to another file"):
        svccakit.open_run(path)
    err = inspect_one_line(path, capsys)
    assert "external link" in err

    def link_probe(f):
        del f["probe"]
        f["probe"] = h5py.ExternalLink(str(secret), "/")

    path = craft(tmp_path, link_probe, "probe.h5")
    with pytest.raises(RunFileError, match=r"/probe is an external link"):
        svccakit.open_run(path)


def test_soft_links_and_external_storage_are_refused(tmp_path):
    def soft(f):
        f["metrics/alias"] = h5py.SoftLink("/metrics/loss")

    with pytest.raises(RunFileError, match=r"/metrics/alias is a SoftLink"):
        svccakit.open_run(craft(tmp_path, soft))

    raw = tmp_path / "raw.bin"
    raw.write_bytes(np.arange(90, dtype=np.float32).tobytes())

    def external_storage(f):
        del f["layers/1"]
        f["layers"].create_dataset("1", shape=(3, 5, 6), dtype=np.float32,
                                   external=[(str(raw), 0, 360)])

    with pytest.raises(RunFileError, match=r"/layers/1 keeps its data in other files"):
        svccakit.open_run(craft(tmp_path, external_storage, "storage.h5"))


def test_declared_sizes_are_checked_before_reading(tmp_path, capsys):
    # a layer that declares 4 TB per snapshot (the file holds a few kB)
    def huge(f):
        f["layers"].create_dataset("huge", shape=(3, 5, 10**12), dtype=np.float32,
                                   chunks=(1, 1, 1024))
        f["layers"].attrs["order"] = np.array(["0", "1", "2", "huge"],
                                              dtype=h5py.string_dtype())

    path = craft(tmp_path, huge)
    with svccakit.open_run(path) as run:
        assert run.layer_shape("huge") == (5, 10**12)  # metadata only: fine
        with pytest.raises(RunFileError, match=r"/layers/huge\[0\] declares 18.2 TiB of data "
                                               r"but the file stores only"):
            run.activations("huge", 0)
    # a probe that declares (5, 1e6, 1e6)
    def huge_probe(f):
        del f["probe/inputs"]
        f["probe"].create_dataset("inputs", shape=(5, 10**6, 10**6), dtype=np.float32,
                                  chunks=(1, 1, 1024))

    path = craft(tmp_path, huge_probe, "probe.h5")
    with svccakit.open_run(path) as run, pytest.raises(RunFileError, match=r"/probe/inputs "
                                                       r"declares 18.2 TiB"):
        run.probe  # noqa: B018
    inspect_one_line(path, capsys)


def test_inspect_prints_names_from_the_file_safely(tmp_path, capsys):
    model = nn.Sequential()
    model.add_module("\x1b[2Jwipe", nn.Linear(3, 2))
    path = tmp_path / "names.h5"
    with svccakit.Recorder(model, torch.ones(2, 3), path,
                           config={"note": "\x1b]0;title\x07"}) as rec:
        rec.record(0, **{"\x1b[31mred": 1.0, "bidi\u202eevil": 2.0})
    with h5py.File(path, "r+") as f:
        f.attrs["created"] = "today\x1b[1A\r"
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert "\u202e" not in out
    assert "\r" not in out
    assert "\\x1b[2Jwipe" in out
    assert "\\x1b[31mred" in out
    assert "bidi\\u202eevil" in out
    assert "today\\x1b[1A\\r" in out


def test_error_messages_print_names_safely(tmp_path, capsys):
    def bad(f):
        f["layers"].create_dataset("\x1b[2J", data=np.zeros((1, 5, 6), np.float32))

    path = craft(tmp_path, bad)
    err = inspect_one_line(path, capsys)
    assert "\x1b" not in err
    assert "\\x1b[2J" in err


# ---------------------------------------------------------------------- flipped bytes


def _flips(data: bytes, rng, n: int):
    for _ in range(n):
        buf = bytearray(data)
        at = int(rng.integers(0, len(buf) - 16))
        buf[at:at + 16] = rng.integers(0, 256, 16, dtype=np.uint8).tobytes()
        yield at, bytes(buf)


def _live_image(tmp_path) -> bytes:
    """The bytes of a run file whose writer is still running (flushed, flagged open for
    writing): what a killed writer leaves behind."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2))
    path = tmp_path / "live.h5"
    with svccakit.Recorder(model, torch.randn(5, 4), path, config={"lr": 0.1}) as rec:
        for step in range(3):
            rec.record(step, loss=1.0)
        rec.flush()
        return path.read_bytes()


@pytest.mark.parametrize("kind", ["closed", "live"])
def test_flipped_bytes_give_run_file_error_or_data(tmp_path, capsys, kind):
    if kind == "closed":
        data = write_run(tmp_path / "clean.h5").read_bytes()
    else:
        data = _live_image(tmp_path)
    rng = np.random.default_rng(2024 if kind == "closed" else 7)
    path = tmp_path / "flipped.h5"
    outcomes = {"data": 0, "RunFileError": 0}
    for trial, (at, image) in enumerate(_flips(data, rng, 150)):
        path.write_bytes(image)
        message = None
        try:
            read_everything(path)
        except RunFileError as exc:
            message = str(exc)
        except Exception as exc:  # noqa: BLE001 - the point of the test
            pytest.fail(f"flipping 16 bytes at offset {at} raised {exc!r}")
        outcomes["data" if message is None else "RunFileError"] += 1
        assert message is None or "\n" not in message, (at, message)
        if trial % 5 == 0:
            assert main(["inspect", str(path)]) in (0, 1)
            err = capsys.readouterr().err
            assert err.count("\n") <= 1, (at, err)
            assert "Traceback" not in err, (at, err)
    assert outcomes["RunFileError"] > 10  # the flips did damage
    assert outcomes["data"] > 10  # and many left the snapshots readable


_HOSTILE_READER = textwrap.dedent("""
    import sys
    from svccakit.exceptions import RunFileError
    from svccakit.record.store import open_run
    for path in sys.argv[1:]:
        try:
            with open_run(path) as run:
                run.config, run.attrs, run.layer_names, run.steps
            print("data", path)
        except RunFileError as exc:
            print("RunFileError", path)
""")


def _zero_heap_free_space(data: bytes) -> bytes:
    """The image with the free-space object of its first global heap collection set to
    size 0 (HDF5 2.0 loops forever parsing such a collection)."""
    buf = bytearray(data)
    at = buf.index(b"GCOL\x01\x00\x00\x00")
    size = int.from_bytes(buf[at + 8: at + 16], "little")
    p = at + 16
    while p + 16 <= at + size:
        index = int.from_bytes(buf[p: p + 2], "little")
        obj = int.from_bytes(buf[p + 8: p + 16], "little")
        if index == 0:
            buf[p + 8: p + 16] = bytes(8)
            return bytes(buf)
        p += 16 + (obj + 7) // 8 * 8
    raise AssertionError("no free space in the collection")


def test_damage_that_hangs_hdf5_is_refused_quickly(tmp_path):
    # Run in a child with a time limit: if a regression lets HDF5 spin or retry, the test
    # fails instead of hanging the suite.
    clean = write_run(tmp_path / "clean.h5").read_bytes()
    live = _live_image(tmp_path)
    heap = tmp_path / "heap.h5"
    heap.write_bytes(_zero_heap_free_space(clean))
    live_heap = tmp_path / "live_heap.h5"
    live_heap.write_bytes(_zero_heap_free_space(live))
    superblock = tmp_path / "superblock.h5"  # an SWMR reader retried this for > 10 min
    superblock.write_bytes(live[:40] + bytes(range(16)) + live[56:])
    paths = [str(p) for p in (heap, live_heap, superblock)]
    done = subprocess.run([sys.executable, "-c", _HOSTILE_READER, *paths],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [w for p in paths for w in ("RunFileError", p)]


def test_a_live_run_still_reads_after_the_changes(tmp_path):
    # the guards must not refuse healthy files: a live one and a copy of it
    data = _live_image(tmp_path)
    path = tmp_path / "copy.h5"
    path.write_bytes(data)
    assert read_everything(path) == 3
    shutil.copy(path, tmp_path / "again.h5")
    with svccakit.open_run(tmp_path / "again.h5") as run:
        assert not run.closed_cleanly
        assert run.config == {"lr": 0.1}
