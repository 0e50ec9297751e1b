"""Mean-field signal propagation in noisy rectifier networks, and the networks themselves.

The theory (numpy and scipy only) and the torch side read the same specifications, so a
network and its theory cannot disagree:

- :mod:`~svccakit.meanfield.specs`: activations (the one table :data:`ACTIVATION_TABLE`:
  numpy ``phi``, ``phi'`` and torch module) and noise;
- :mod:`~svccakit.meanfield.expectations`: the Gaussian expectations the maps need;
- :mod:`~svccakit.meanfield.theory`: variance and correlation maps, fixed points, depth
  scales, the critical point (Pretorius et al. 2018; Pennington et al. 2017);
- :mod:`~svccakit.meanfield.jacobian`: the input-output Jacobian spectrum of a critical
  noisy network, its moments and density, from free probability;
- :mod:`~svccakit.meanfield.schemes`: the usual random schemes and their phase;
- :mod:`~svccakit.meanfield.nets` and :mod:`~svccakit.meanfield.init` (torch): noise and
  activation modules, :func:`mlp`, :func:`critical_`, :func:`random_`;
- :mod:`~svccakit.meanfield.dynamics` (torch): theory against finite-width simulation.

Names load on first use: ``import svccakit.meanfield`` does not import torch.
"""

from svccakit import _lazy
from svccakit.exceptions import NoCriticalPointError

_EXPORTS = {
    "ACTIVATIONS": "svccakit.meanfield.specs",
    "ACTIVATION_TABLE": "svccakit.meanfield.specs",
    "ActivationKind": "svccakit.meanfield.specs",
    "NOISE_KINDS": "svccakit.meanfield.specs",
    "Activation": "svccakit.meanfield.specs",
    "Noise": "svccakit.meanfield.specs",
    "parse_activation": "svccakit.meanfield.specs",
    "parse_noise": "svccakit.meanfield.specs",
    "second_moment": "svccakit.meanfield.expectations",
    "derivative_second_moment": "svccakit.meanfield.expectations",
    "derivative_fourth_moment": "svccakit.meanfield.expectations",
    "cross_moment": "svccakit.meanfield.expectations",
    "derivative_cross_moment": "svccakit.meanfield.expectations",
    "p_active": "svccakit.meanfield.expectations",
    "CriticalPoint": "svccakit.meanfield.theory",
    "DEFAULT_Q_STAR": "svccakit.meanfield.theory",
    "JacobianMoments": "svccakit.meanfield.theory",
    "chi_1": "svccakit.meanfield.theory",
    "chi_c": "svccakit.meanfield.theory",
    "correlation_fixed_point": "svccakit.meanfield.theory",
    "correlation_iteration": "svccakit.meanfield.theory",
    "correlation_map": "svccakit.meanfield.theory",
    "critical_point": "svccakit.meanfield.theory",
    "depth_scale": "svccakit.meanfield.theory",
    "float32_depth": "svccakit.meanfield.theory",
    "jacobian_spectrum_moments": "svccakit.meanfield.theory",
    "phase": "svccakit.meanfield.theory",
    "variance_fixed_point": "svccakit.meanfield.theory",
    "variance_iteration": "svccakit.meanfield.theory",
    "variance_map": "svccakit.meanfield.theory",
    "JacobianDensity": "svccakit.meanfield.jacobian",
    "jacobian_density": "svccakit.meanfield.jacobian",
    "jacobian_moments": "svccakit.meanfield.jacobian",
    "SCHEMES": "svccakit.meanfield.schemes",
    "Scheme": "svccakit.meanfield.schemes",
    "get_scheme": "svccakit.meanfield.schemes",
    "random_phase": "svccakit.meanfield.schemes",
    "scheme_sigma_b": "svccakit.meanfield.schemes",
    "scheme_sigma_w": "svccakit.meanfield.schemes",
    "ShiftedReLU": "svccakit.meanfield.nets",
    "Erf": "svccakit.meanfield.nets",
    "GaussianNoise": "svccakit.meanfield.nets",
    "AdditiveNoise": "svccakit.meanfield.nets",
    "mlp": "svccakit.meanfield.nets",
    "activation_module": "svccakit.meanfield.nets",
    "noise_module": "svccakit.meanfield.nets",
    "describe_activation": "svccakit.meanfield.nets",
    "describe_noise": "svccakit.meanfield.nets",
    "critical_": "svccakit.meanfield.init",
    "random_": "svccakit.meanfield.init",
    "set_weights_": "svccakit.meanfield.init",
    "infer_activation_noise": "svccakit.meanfield.init",
    "RandomInit": "svccakit.meanfield.init",
    "WEIGHTS": "svccakit.meanfield.init",
    "DynamicsTable": "svccakit.meanfield.dynamics",
    "JacobianSpectra": "svccakit.meanfield.dynamics",
    "MapTable": "svccakit.meanfield.dynamics",
    "SpectrumDensity": "svccakit.meanfield.dynamics",
    "simulate_variance": "svccakit.meanfield.dynamics",
    "simulate_correlation": "svccakit.meanfield.dynamics",
    "simulate_correlation_map": "svccakit.meanfield.dynamics",
    "simulate_jacobian": "svccakit.meanfield.dynamics",
    "network_jacobians": "svccakit.meanfield.dynamics",
    "spectrum_density": "svccakit.meanfield.dynamics",
    "plot_variance": "svccakit.meanfield.dynamics",
    "plot_correlation": "svccakit.meanfield.dynamics",
    "plot_correlation_map": "svccakit.meanfield.dynamics",
    "plot_jacobian": "svccakit.meanfield.dynamics",
    "plot_density": "svccakit.meanfield.dynamics",
    "CSV_COLUMNS": "svccakit.meanfield.dynamics",
    "DENSITY_CSV_COLUMNS": "svccakit.meanfield.dynamics",
    "MAP_CSV_COLUMNS": "svccakit.meanfield.dynamics",
    "FigureConfig": "svccakit.meanfield.dynamics",
    "variance_figure": "svccakit.meanfield.dynamics",
    "correlation_figure": "svccakit.meanfield.dynamics",
    "correlation_map_figure": "svccakit.meanfield.dynamics",
    "jacobian_figure": "svccakit.meanfield.dynamics",
    "density_figure": "svccakit.meanfield.dynamics",
}

__getattr__, __dir__, _names = _lazy.attach(__name__, _EXPORTS)
__all__ = ["NoCriticalPointError", *_names]
