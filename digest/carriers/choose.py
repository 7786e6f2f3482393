"""The carrier the settings name, ready to send."""

from __future__ import annotations

from ..errors import ConfigError
from ..settings import Settings
from .base import Transport
from .outbox import OutboxTransport


def make_transport(settings: Settings, autoclose: bool = False) -> Transport:
    """Return the transport the settings name (`autoclose`: for a caller that never closes it, e.g. a server)."""
    if settings.transport == "outbox":
        outbox = OutboxTransport(settings.outbox_dir, autoclose=autoclose)
        outbox.check()
        return outbox
    if settings.transport == "ses":
        from .ses import make_ses_transport  # here, so the outbox and smtp paths never import boto3

        return make_ses_transport(settings)
    if settings.transport == "smtp":
        from .smtp import make_smtp_transport

        return make_smtp_transport(settings, autoclose=autoclose)
    raise ConfigError(f"transport {settings.transport!r} is not available in this build")
