"""Base exception of depthnet_nano_ros; each pillar derives its own from it."""


class DepthNetNanoError(Exception):
    """An actionable error: the message names what is wrong and how to fix it."""


def brief(exc: BaseException, limit: int = 160) -> str:
    """`Type: first line of the message`, shortened: a foreign exception inside a one-line error."""
    text = (str(exc).strip().splitlines() or [""])[0].strip()
    text = text if len(text) <= limit else text[:limit] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
