"""The real `digest` command on the SES transport, with SES faked in-process by moto and every message SES
accepts appended to a log file at the moment it is accepted (so it survives a SIGKILL of this process).

    CRASH_SES_LOG=accepted.log python -m tests.reliability.crash_ses run --now 2026-11-23T09:00:00Z

One line per accepted message: "<Message-ID>\\t<SES message id>\\t<To address>". A message accepted twice is a
second email in someone's inbox, whatever the ledger says afterwards. Only `--workers 1`: worker processes
would start without the fake.
"""

from __future__ import annotations

import os
import sys
from email.parser import HeaderParser
from email.utils import parseaddr

from moto import mock_aws
from moto.ses.models import SESBackend

_send_raw = SESBackend.send_raw_email


def _recording(log_fd: int):
    def send_raw_email(self, source, destinations, raw_data):
        message = _send_raw(self, source, destinations, raw_data)
        head = HeaderParser().parsestr(raw_data, headersonly=True)
        line = f"{head['Message-ID']}\t{message.id}\t{parseaddr(head['To'])[1]}\n"
        os.write(log_fd, line.encode())  # one write to an O_APPEND file: whole lines, even across a kill
        return message
    return send_raw_email


def main(argv: list[str]) -> int:
    log_fd = os.open(os.environ["CRASH_SES_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    SESBackend.send_raw_email = _recording(log_fd)
    with mock_aws():
        import boto3

        boto3.client("sesv2").create_email_identity(EmailIdentity="example.com")
        from digest.cli import main as digest

        try:
            digest.main(argv, prog_name="digest", standalone_mode=True)
        except SystemExit as e:
            return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
