"""SES feedback as this service would receive it: ledger rows for the mails it sent, and SNS messages signed
like Amazon SNS signs them (SignatureVersion 1 and 2), with a throwaway RSA key and a self-signed certificate
that a test hands to the verifier through its certificate fetcher (nothing is served over the network)."""

from __future__ import annotations

import base64
import copy
import itertools
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from sqlalchemy.orm import Session

from digest.models import Delivery, Subscriber
from digest.sns_verify import string_to_sign

REGION = "eu-west-1"
TOPIC = f"arn:aws:sns:{REGION}:123456789012:jobdigest-ses-events"
CERT_URL = f"https://sns.{REGION}.amazonaws.com/SimpleNotificationService-0123456789abcdef0123456789abcdef.pem"
_periods = itertools.count(1)


def record_sent(engine, address: str, ses_id: str, at: datetime | None = None) -> None:
    """A digest the ledger says went to `address` with SES MessageId `ses_id`, as a finished run leaves it."""
    at = at or datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
    with Session(engine) as s, s.begin():
        sub = s.query(Subscriber).filter_by(email_key=address.lower()).one()
        n = next(_periods)  # a past week of its own: one ledger row per subscriber and week
        s.add(Delivery(subscriber_id=sub.id, period=f"{1900 + n // 52}-W{n % 52 + 1:02d}",
                       status="sent", run_id="00000000-0000-0000-0000-000000000000", slot_at=at,
                       window_start=at - timedelta(days=7), cutoff=at, claimed_at=at, sent_at=at, attempts=1,
                       listing_count=1, total_matches=1, message_id=f"<{ses_id[:20]}@example.com>",
                       transport_id=ses_id, listings=[]))


@lru_cache(maxsize=2)
def signer(common_name: str = "sns.amazonaws.com") -> "Signer":
    return Signer.new(common_name)


@dataclass
class Signer:
    """A key pair and its self-signed certificate, standing in for SNS's."""

    key: rsa.RSAPrivateKey
    pem: bytes
    fetched: list[str] = field(default_factory=list)

    @classmethod
    def new(cls, common_name: str) -> "Signer":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = datetime.now(UTC)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
                .not_valid_after(now + timedelta(days=30)).sign(key, hashes.SHA256()))
        return cls(key, cert.public_bytes(serialization.Encoding.PEM))

    def fetch(self, url: str) -> bytes:
        """The certificate fetcher a test injects: it serves this certificate for any URL it is asked for."""
        self.fetched.append(url)
        return self.pem

    def sign(self, sns: dict, version: str = "1") -> dict:
        """Sign an SNS message (HTTPS body or Lambda `Sns` object) in place of SNS; return a signed copy."""
        sns = copy.deepcopy(sns)
        sns["SignatureVersion"] = version
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
        signature = self.key.sign(string_to_sign(sns), padding.PKCS1v15(), algorithm)
        sns["Signature"] = base64.b64encode(signature).decode("ascii")
        return sns


def sign_event(event: dict, by: Signer | None = None, version: str = "1") -> dict:
    """A Lambda SNS event whose every record is signed (SigningCertUrl on the SNS host of the region)."""
    by = by or signer()
    event = copy.deepcopy(event)
    for rec in event["Records"]:
        rec["Sns"]["SigningCertUrl"] = CERT_URL
        rec["Sns"] = by.sign(rec["Sns"], version)
    return event


FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ses"



def ses(name: str) -> dict:
    """A bare SES notification from the fixtures, e.g. ses("event-bounce-permanent")."""
    return json.loads((FIXTURES / f"{name}.json").read_text("utf-8"))



def sns_body(message: dict | str) -> dict:
    """An SNS notification as an HTTPS subscriber receives it: the SES notification is a JSON string."""
    return {
        "Type": "Notification", "MessageId": str(uuid.uuid4()), "TopicArn": TOPIC,
        "Message": message if isinstance(message, str) else json.dumps(message, separators=(",", ":")),
        "Timestamp": "2026-11-23T09:00:05.120Z", "SignatureVersion": "1", "Signature": "EXAMPLE==",
        "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-example.pem",
        "UnsubscribeURL": f"https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={TOPIC}:1",
    }



def sns_record(message: dict | str) -> dict:
    """One record of a Lambda SNS event (Lambda spells the URL keys SigningCertUrl and UnsubscribeUrl)."""
    body = sns_body(message)
    return {
        "EventVersion": "1.0", "EventSubscriptionArn": f"{TOPIC}:6c1f0b2e-3d4a-4e5f-9a8b-7c6d5e4f3a2b",
        "EventSource": "aws:sns",
        "Sns": {k.replace("URL", "Url"): v for k, v in body.items()} | {"MessageAttributes": {}, "Subject": None},
    }



def lambda_event(*messages: dict | str) -> dict:
    return {"Records": [sns_record(m) for m in messages]}


def notification(fixture: str, address: str, message_id: str) -> dict:
    """One of the SES fixtures with its recipient replaced."""
    raw = (FIXTURES / fixture).read_text()
    for old in ("gone@example.com", "full@example.com", "angry@example.com", "happy@example.com"):
        raw = raw.replace(old, address)
    data = json.loads(raw)
    data["mail"]["messageId"] = message_id
    return data


def write(path: Path, records: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return str(path)
