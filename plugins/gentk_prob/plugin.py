"""Registers the Langevin sampler, the `langevin_target` and `gmm_em` models and the
`mode_coverage` and `log_likelihood` metrics."""

from gentk.families.density import DensitySampler
from gentk.hookspecs import hookimpl
from gentk.interfaces import LogDensity
from gentk.registry import lazy
from gentk_prob.configs import (
    GMMEMConfig,
    LangevinConfig,
    LangevinTargetConfig,
    LogLikelihoodConfig,
    ModeCoverageConfig,
)


@hookimpl
def gentk_register_samplers(register):
    register("langevin", lazy("gentk_prob.sampler:LangevinSampler"), LangevinConfig, provides=(DensitySampler,))


@hookimpl
def gentk_register_models(register):
    register("langevin_target", lazy("gentk_prob.models:LangevinTarget"), LangevinTargetConfig, provides=(LogDensity,))
    register("gmm_em", lazy("gentk_prob.models:GMMEM"), GMMEMConfig, provides=(LogDensity,))


@hookimpl
def gentk_register_metrics(register):
    register("mode_coverage", lazy("gentk_prob.metrics:ModeCoverageMetric"), ModeCoverageConfig)
    register(
        "log_likelihood",
        lazy("gentk_prob.metrics:LogLikelihoodMetric"),
        LogLikelihoodConfig,
        requires=(LogDensity,),
    )
