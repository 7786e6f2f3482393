"""Where finished messages go: the carriers, one module each, behind the `Transport` protocol.

    base.py      the protocol, TransportError and its kinds, ClaimTaken; is_local_host
    outbox.py    the local outbox (files and index pages); refresh_index, remove_stale_temp_files, html_part
    ses.py       Amazon SES v2 (raw sends, paced under the account's rate)
    smtp.py      any SMTP server over one kept connection; smtp_url.py reads DIGEST_SMTP_URL
    retry.py     the retry policy and circuit breaker SES and SMTP share
    null.py      RecordingTransport (tests, previews) and NullTransport (dry runs)
    choose.py    make_transport: the carrier the settings name

This file imports nothing, so that settings.py can read DIGEST_SMTP_URL with smtp_url.py without a cycle.
"""
