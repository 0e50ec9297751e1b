"""hooks/resnet.py and analyses/cnn_layers.py run end to end on a tiny budget."""

import importlib.util
import sys
from pathlib import Path

import numpy as np

import svccakit

ROOT = Path(__file__).resolve().parents[2]


def load(relative):
    spec = importlib.util.spec_from_file_location(f"_svccakit_{Path(relative).stem}", ROOT / relative)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_resnet_hook_and_cross_seed_figure(tmp_path, capsys):
    hook = load("hooks/resnet.py")
    runs = [tmp_path / f"seed{s}.h5" for s in (0, 1)]
    for seed, path in enumerate(runs):
        assert hook.main(["--out", str(path), "--steps", "3", "--seed", str(seed),
                          "--n-probe", "40", "--batch-size", "8"]) == 0
    with svccakit.open_run(runs[0]) as run:
        assert run.layer_names == ["stem", "stages.0.0", "stages.1.0", "stages.2.0", "fc"]
        assert run.layer_shape("stages.1.0") == (40, 32)
        assert run.layer_info("stages.1.0").raw_shape == (40, 32, 16, 16)
        np.testing.assert_array_equal(run.steps, [0, 1, 2, 3])
    analysis = load("analyses/cnn_layers.py")
    assert analysis.main([str(runs[0]), str(runs[1]), "--out", str(tmp_path / "fig")]) == 0
    assert (tmp_path / "fig" / "cnn_layers.png").stat().st_size > 10_000
    matrices, _ = analysis.layer_matrix(str(runs[0]), str(runs[0]))
    np.testing.assert_allclose(np.diag(matrices["cka"].to_numpy()), 1.0, atol=1e-9)
    assert "mean diagonal" in capsys.readouterr().out
