"""What a real carrier (SES, SMTP) refuses to start with: settings that must never reach real subscribers."""

from __future__ import annotations

from urllib.parse import urlsplit

from ..errors import ConfigError
from ..settings import DEV_SECRET_KEY, Settings
from .base import is_local_host


def check_real_carrier(settings: Settings, carrier: str) -> None:
    """Refuse settings that must never reach real subscribers: the development key, a local base URL."""
    if DEV_SECRET_KEY in settings.secret_keys:
        raise ConfigError(f"the {carrier} transport refuses the development signing key: set DIGEST_SECRET_KEYS to "
                          "secrets of your own")
    url = urlsplit(settings.base_url)
    if url.scheme != "https" or is_local_host(url.hostname or ""):
        raise ConfigError("DIGEST_BASE_URL must be the public https:// address of the subscriber pages "
                          f"(unsubscribe links point there), not {settings.base_url!r}")
