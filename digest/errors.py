"""Domain errors; the CLI and the web app map them to a message or a status in one place each."""


class DigestError(Exception):
    """Base class for errors an operator or subscriber should see as one clear line."""


class NormaliseError(DigestError, ValueError):
    """A raw field could not be turned into a facet (unknown level, absurd salary, ...)."""


class InputError(DigestError):
    """A file or value given to a command cannot be used."""


class NotFoundError(DigestError):
    """A subscriber or listing that was asked for does not exist."""


class ConfigError(DigestError):
    """The configuration cannot run (bad URL, unknown transport, ...)."""
