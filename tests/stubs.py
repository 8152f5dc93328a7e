"""Stand-ins shared by tests of several families."""

import torch


class BareModel:
    """Exactly what `gentk.interfaces.Model` declares and nothing more (no encoder, no density):
    what a metric must refuse when it needs more of a model."""

    device = torch.device("cpu")
    grid_columns = None

    def __init__(self, shape: tuple[int, ...] = (2,)):
        self.shape = shape

    def networks(self):
        return {}

    def optimizers(self):
        return {}

    def train_step(self, batch, ctx):
        return {"loss": 0.0}

    def sample(self, n, *, generator, labels=None, **options):
        return torch.zeros(n, *self.shape)
