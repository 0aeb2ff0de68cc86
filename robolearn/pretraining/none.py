"""`none`: the encoder at its random initialization, frozen. The baseline every method must beat."""
from __future__ import annotations

from robolearn.pretraining import Objective, register_objective


@register_objective("none")
class NoPretraining(Objective):
    trains = False
    """The pretrain command saves the initialization without running the training loop."""

