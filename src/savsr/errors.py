"""The exception and warning types that user-facing entry points turn into a one-line message."""

from __future__ import annotations

# How a parameter reads in a message to a Python caller, where the bare name would mislead.
_PYTHON_FORM = {"overwrite": "overwrite=True", "set": "an override"}


class SavsrError(Exception):
    """A problem caused by the user's input or environment, reported without a traceback."""


class ParameterError(SavsrError):
    """A refused value of a parameter that a message names.

    The message writes the parameter as ``{param}``: a Python caller reads its name (``frames``,
    ``overwrite=True``), and `savsr`'s command line reads its flag (``--frames``, ``--overwrite``),
    through :meth:`render` in cli.py. The library itself never speaks of flags.
    """

    def __init__(self, param: str, message: str) -> None:
        self.param, self.template = param, message
        super().__init__(self.render(_PYTHON_FORM.get(param, param)))

    def render(self, name: str) -> str:
        """The message with the parameter written as ``name``."""
        return self.template.replace("{param}", name)


class WeightsNotFoundError(SavsrError):
    """Pretrained weights that savsr needs are not installed."""


class SavsrWarning(UserWarning):
    """Something a user should know that does not stop the work; `savsr` prints it as one line."""


class PrecisionFallback(SavsrWarning):
    """The hardware does not compute the precision asked for natively, so the work runs in another."""
