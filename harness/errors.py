"""Exceptions with one-line messages that tell a user what is wrong and how to fix it."""


class HarnessError(Exception):
    """Base class: every error the harness raises on bad input derives from it."""


class UnknownLanguageError(HarnessError, KeyError):
    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else "unknown language"


class ConceptError(HarnessError, ValueError):
    """A concept cannot be measured: unknown, empty, or too few positives/negatives."""


class ModelNotAvailableError(HarnessError):
    """A model or revision is neither cached locally nor reachable."""


class BadCheckpointError(HarnessError):
    """A checkpoint is known to be broken, duplicates another, or holds non-finite weights."""


class UnsupportedArchitectureError(HarnessError):
    """No neuron site is known for this model architecture."""


class NonFiniteActivationError(HarnessError, FloatingPointError):
    """An activation or metric input contains NaN or infinity."""


class RevisionNameError(HarnessError, ValueError):
    """A checkpoint name that the model's checkpoint suite does not publish, or cannot map to its own naming."""
