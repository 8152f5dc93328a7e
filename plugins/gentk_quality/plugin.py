"""Registers the sample-quality metrics (fid, kid, precision_recall, quality) and their feature
extractors (classifier, inception)."""

from gentk.hookspecs import hookimpl
from gentk.interfaces import UsesTrainingData
from gentk.registry import lazy
from gentk_quality.configs import (
    ClassifierFeaturesConfig,
    FIDConfig,
    InceptionConfig,
    KIDConfig,
    PrecisionRecallConfig,
    QualityConfig,
)


@hookimpl
def gentk_register_feature_extractors(register):
    register("classifier", lazy("gentk_quality.extractors:ClassifierFeatures"), ClassifierFeaturesConfig)
    register("inception", lazy("gentk_quality.extractors:InceptionFeatures"), InceptionConfig)


@hookimpl
def gentk_register_metrics(register):
    trains = (UsesTrainingData,)
    register("fid", lazy("gentk_quality.metrics:fid"), FIDConfig, provides=trains)
    register("kid", lazy("gentk_quality.metrics:kid"), KIDConfig, provides=trains)
    register(
        "precision_recall",
        lazy("gentk_quality.metrics:precision_recall_metric"),
        PrecisionRecallConfig,
        provides=trains,
    )
    register("quality", lazy("gentk_quality.metrics:quality"), QualityConfig, provides=trains)
