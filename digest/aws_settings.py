"""Settings on Lambda: the environment, overlaid with the parameters under DIGEST_SSM_PREFIX.

`/jobdigest/prod/database-url` becomes DIGEST_DATABASE_URL, `secret-keys` DIGEST_SECRET_KEYS, and so on.
Secrets live in Parameter Store (SecureString), never in serverless.yml or the CloudFormation template.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping

from .errors import ConfigError
from .settings import Settings, _int


def ssm_values(prefix: str, client: Any) -> dict[str, str]:
    """Read every parameter directly under `prefix` (decrypted) as DIGEST_* variables."""
    values: dict[str, str] = {}
    for page in client.get_paginator("get_parameters_by_path").paginate(
        Path=prefix.rstrip("/"), Recursive=False, WithDecryption=True
    ):
        for p in page["Parameters"]:
            name = p["Name"].rsplit("/", 1)[-1]
            values["DIGEST_" + name.upper().replace("-", "_")] = p["Value"]
    return values


def lambda_settings(env: Mapping[str, str] | None = None, client: Any = None) -> Settings:
    """Settings for a Lambda container: environment plus Parameter Store (which wins)."""
    env = dict(os.environ if env is None else env)
    prefix = env.get("DIGEST_SSM_PREFIX")
    if prefix:
        if client is None:
            import boto3

            client = boto3.client("ssm")
        found = ssm_values(prefix, client)
        if not found:
            raise ConfigError(f"no parameters under {prefix} in SSM Parameter Store")
        env |= found
    return Settings.from_env(env)


@dataclass(frozen=True)
class FanoutSettings:
    """How the hourly planner hands the run out: the shard queue, shard size, and the size sent inline instead."""

    queue_url: str
    shard_size: int = 500
    inline_below: int = 1000

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "FanoutSettings":
        """Read DIGEST_QUEUE_URL, DIGEST_SHARD_SIZE and DIGEST_INLINE_BELOW, refusing values that cannot work."""
        get = (os.environ if env is None else env).get
        queue_url = (get("DIGEST_QUEUE_URL") or "").strip()
        if not queue_url:
            raise ConfigError("DIGEST_QUEUE_URL must be the URL of the shard queue (serverless.yml sets it)")
        fanout = cls(queue_url, _int(get, "DIGEST_SHARD_SIZE", cls.shard_size),
                     _int(get, "DIGEST_INLINE_BELOW", cls.inline_below))
        if fanout.shard_size < 1:
            raise ConfigError(f"DIGEST_SHARD_SIZE must be at least 1, not {fanout.shard_size}")
        if fanout.inline_below < 0:
            raise ConfigError(f"DIGEST_INLINE_BELOW must be 0 or more, not {fanout.inline_below}")
        return fanout
