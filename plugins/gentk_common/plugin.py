"""Registers the optimizers and the class-coverage metric."""

from gentk.hookspecs import hookimpl
from gentk.interfaces import UsesTrainingData
from gentk.registry import lazy
from gentk_common.configs import AdamConfig, CoverageConfig, RMSpropConfig, SGDConfig


@hookimpl
def gentk_register_optimizers(register):
    register("adam", lazy("gentk_common.optimizers:adam"), AdamConfig)
    register("rmsprop", lazy("gentk_common.optimizers:rmsprop"), RMSpropConfig)
    register("sgd", lazy("gentk_common.optimizers:sgd"), SGDConfig)


@hookimpl
def gentk_register_metrics(register):
    register("coverage", lazy("gentk_common.coverage:ClassCoverage"), CoverageConfig, provides=(UsesTrainingData,))
