"""jobdigest: the weekly job-alert email digest of a remote backend-developer job board."""

__version__ = "0.1.0"
