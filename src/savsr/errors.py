"""The one exception type that user-facing entry points turn into a one-line message."""


class SavsrError(Exception):
    """A problem caused by the user's input or environment, reported without a traceback."""


class WeightsNotFoundError(SavsrError):
    """Pretrained weights that savsr needs are not installed."""
