"""The public surface: the names svccakit has promised, the package layout, import hygiene."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

import svccakit

PACKAGE = Path(svccakit.__file__).parent

# every name of svccakit.__all__ before the subpackage layout (stop 7); each must keep working
PROMISED = [
    "BaselineResult", "CCAResult", "Decomposition", "SVCCAResult", "SmallSampleWarning",
    "baseline", "cca", "decompose", "flatten_conv", "linear_cka", "pwcca", "svcca",
    "Activation", "CriticalPoint", "GaussianNoise", "NoCriticalPointError", "Noise",
    "ShiftedReLU", "critical_", "critical_point", "mlp", "parse_activation", "parse_noise",
    "random_", "scheme_sigma_w", "ExperimentConfig", "GridResult", "custom_task",
    "default_config", "parity_network", "record_reference", "run_grid", "train_run",
    "Recorder", "Run", "RunFileError", "log_schedule", "open_run", "DepthConfig", "DepthGrid",
    "depth_grid", "run_depth", "variance_heatmap", "timeline", "run_experiment",
    "ExperimentResult", "__version__",
]


def _modules() -> list[str]:
    names = ["svccakit"]
    for info in pkgutil.walk_packages([str(PACKAGE)], prefix="svccakit."):
        names.append(info.name)
    return names


def _has_extras(module: str) -> bool:
    """Whether the optional packages an integration needs are installed."""
    import importlib.util

    needs = {"svccakit.integrations.lightning": ["lightning"],
             "svccakit.integrations.hf": ["transformers", "accelerate"]}
    return all(importlib.util.find_spec(name) for name in needs.get(module, []))


def test_promised_names_are_public_and_importable():
    for name in PROMISED:
        assert name in svccakit.__all__, name
        assert getattr(svccakit, name) is not None
    namespace: dict = {}
    exec("from svccakit import *", namespace)  # noqa: S102
    assert set(svccakit.__all__) <= set(namespace)


def test_every_library_exception_is_public_at_the_root():
    import svccakit.exceptions as exc

    classes = {name for name, obj in vars(exc).items()
               if isinstance(obj, type) and issubclass(obj, (exc.SvccakitError, Warning))
               and obj.__module__ == exc.__name__}
    assert "TrainingDivergedError" in classes
    assert classes <= set(svccakit.__all__)
    for name in classes:
        assert getattr(svccakit, name) is getattr(exc, name)


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="module 'svccakit' has no attribute 'nope'"):
        svccakit.nope  # noqa: B018


def test_root_names_come_from_the_subpackages():
    from svccakit.experiment.timeline import timeline
    from svccakit.meanfield.theory import critical_point
    from svccakit.similarity.metrics import svcca

    assert svccakit.svcca is svcca
    assert svccakit.critical_point is critical_point
    assert svccakit.timeline is timeline


def test_a_module_is_never_shadowed_by_a_function():
    code = ("import svccakit, svccakit.experiment.timeline as t, types; "
            "print(isinstance(t, types.ModuleType), callable(svccakit.timeline))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["True", "True"]


def test_every_module_imports_on_its_own_in_a_fresh_interpreter():
    # a runtime import cycle shows up as an ImportError when a module is imported first
    # (each module first, with every svccakit module forgotten before it; torch & co.
    # stay loaded, so this is quick)
    code = ("import importlib, sys\n"
            "for name in sys.argv[1:]:\n"
            "    for key in [k for k in sys.modules if k.split('.')[0] == 'svccakit']:\n"
            "        del sys.modules[key]\n"
            "    try:\n"
            "        importlib.import_module(name)\n"
            "    except Exception as exc:\n"
            "        print(name, type(exc).__name__, exc)\n")
    modules = [m for m in _modules() if m != "svccakit.__main__"
               and (not m.startswith("svccakit.integrations.") or _has_extras(m))]
    proc = subprocess.run([sys.executable, "-c", code, *modules], capture_output=True,
                          text=True, check=True)
    assert proc.stdout == ""


def test_no_module_imports_the_package_root():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "__init__.py" and path.parent == PACKAGE:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "svccakit":
                names = {a.name for a in node.names}
                # submodules of the root are fine; public names of the root are not
                if names - {"_lazy", "_outdir", "_parallel", "_validate", "_version",
                            "exceptions"}:
                    offenders.append(f"{path.relative_to(PACKAGE)}: {sorted(names)}")
            if isinstance(node, ast.Import) and any(a.name == "svccakit" for a in node.names):
                offenders.append(f"{path.relative_to(PACKAGE)}: import svccakit")
    assert offenders == []


def test_imports_flow_one_way():
    # similarity, meanfield and record know nothing of each other; experiment builds on
    # them, depth on experiment, cli and integrations on everything
    allowed = {
        "similarity": set(),
        "meanfield": set(),
        "record": set(),
        "experiment": {"similarity", "meanfield", "record"},
        "depth": {"experiment", "similarity", "meanfield", "record"},
    }
    bad = []
    for package, may_use in allowed.items():
        for path in (PACKAGE / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                modules = []
                if isinstance(node, ast.ImportFrom) and node.module:
                    modules = [node.module]
                elif isinstance(node, ast.Import):
                    modules = [a.name for a in node.names]
                for module in modules:
                    parts = module.split(".")
                    if parts[0] != "svccakit" or len(parts) < 2 or parts[1].startswith("_"):
                        continue
                    if parts[1] in (package, "exceptions"):
                        continue
                    if parts[1] not in may_use:
                        bad.append(f"{path.relative_to(PACKAGE)} imports {module}")
    assert bad == []


def test_import_svccakit_loads_neither_torch_nor_h5py():
    code = ("import sys, svccakit; from svccakit import svcca, critical_point, ExperimentConfig; "
            "ExperimentConfig(); print('torch' in sys.modules, 'h5py' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["False", "False"]


def test_front_doors_list_real_names():
    for package in ("svccakit.similarity", "svccakit.meanfield", "svccakit.record",
                    "svccakit.experiment", "svccakit.experiment.report", "svccakit.depth"):
        module = importlib.import_module(package)
        assert isinstance(module, types.ModuleType)
        for name in module.__all__:
            assert getattr(module, name) is not None, f"{package}.{name}"


# ---------------------------------------------------------------------------
# one table per extension point: an unknown name is a ValueError listing the known ones


def _cli_error(argv, capsys) -> str:
    from svccakit.cli import main

    assert main(argv) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    return err


def test_unknown_metric_everywhere(tmp_path, capsys):
    import numpy as np

    from svccakit.experiment.config import ExperimentConfig

    known = "'svcca', 'pwcca', 'cka'"
    x = np.random.default_rng(0).standard_normal((30, 4))
    with pytest.raises(ValueError, match=f"metric: expected one of {known}, got 'cca'"):
        svccakit.baseline(x, x, metric="cca")
    with pytest.raises(ValueError, match=f"metric: expected one of {known}, got 'cca'"):
        svccakit.get_metric("cca")
    with pytest.raises(ValueError, match=rf"timeline.metrics\[0\]: expected one of {known}"):
        ExperimentConfig.from_toml_string('[timeline]\nmetrics = ["cca"]')
    config = tmp_path / "c.toml"
    config.write_text('[timeline]\nmetrics = ["cca"]\n')
    err = _cli_error(["run", "--config", str(config), "--out", str(tmp_path / "o")], capsys)
    assert f"expected one of {known}, got 'cca'" in err


def test_unknown_activation_everywhere(tmp_path, capsys):
    from svccakit.experiment.config import ExperimentConfig

    known = "relu, shifted-relu:ALPHA, tanh, erf, linear"
    with pytest.raises(ValueError, match=f"expected one of {known}, got 'gelu'"):
        svccakit.parse_activation("gelu")
    with pytest.raises(ValueError, match=f"expected one of {known}, got 'gelu'"):
        svccakit.mlp(2, 3, 1, 1, activation="gelu")
    with pytest.raises(ValueError, match=f"expected one of {known}, got 'gelu'"):
        svccakit.critical_point("gelu")
    with pytest.raises(ValueError, match=rf"activations\[0\]: .*expected one of {known}"):
        ExperimentConfig.from_toml_string('activations = ["gelu"]')
    err = _cli_error(["theory", "--activation", "gelu"], capsys)
    assert f"expected one of {known}, got 'gelu'" in err
    config = tmp_path / "c.toml"
    config.write_text('activations = ["gelu"]\n')
    err = _cli_error(["run", "--config", str(config), "--out", str(tmp_path / "o")], capsys)
    assert f"expected one of {known}, got 'gelu'" in err


def test_unknown_task_everywhere(tmp_path, capsys):
    from svccakit.experiment.config import ExperimentConfig
    from svccakit.experiment.registry import get_task

    known = "'parity', 'teacher', 'digits'"
    with pytest.raises(ValueError, match=f"task.name: expected one of {known}, got 'mnist'"):
        get_task("mnist")
    with pytest.raises(ValueError, match=f"task.name: expected one of {known}, got 'mnist'"):
        ExperimentConfig.from_toml_string('[task]\nname = "mnist"')
    config = tmp_path / "c.toml"
    config.write_text('[task]\nname = "mnist"\n')
    err = _cli_error(["run", "--config", str(config), "--out", str(tmp_path / "o")], capsys)
    assert f"expected one of {known}, got 'mnist'" in err
    hook = Path(__file__).resolve().parent.parent / "hooks" / "train.py"
    proc = subprocess.run([sys.executable, str(hook), "--task", "mnist"], capture_output=True,
                          text=True)
    assert proc.returncode == 2
    assert "invalid choice: 'mnist' (choose from 'parity', 'teacher', 'digits')" in proc.stderr


def test_activation_table_theory_and_torch_agree():
    import numpy as np
    import torch

    from svccakit.meanfield.nets import activation_module, describe_activation
    from svccakit.meanfield.specs import ACTIVATION_TABLE, parse_activation

    x = np.linspace(-3, 3, 101)
    for kind in ACTIVATION_TABLE.values():
        spec = f"{kind.name}:0.7" if kind.takes_alpha else kind.name
        act = parse_activation(spec)
        if kind.module is None:
            continue
        module = activation_module(spec)
        out = module(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(out, act.phi(x), atol=1e-12, err_msg=spec)
        grad = torch.from_numpy(x).requires_grad_(True)
        module(grad).sum().backward()
        np.testing.assert_allclose(grad.grad.numpy(), act.dphi(x), atol=1e-6, err_msg=spec)
        assert describe_activation(module) == act
