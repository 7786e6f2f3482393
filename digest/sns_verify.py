"""Is an SNS message really from Amazon SNS, about our topic? Checked before any SES feedback is believed.

SNS signs the string `key\\nvalue\\n` of a fixed set of the message's fields, in a fixed order, with the private
key of a certificate it serves at SigningCertURL: SignatureVersion 1 with SHA1withRSA, 2 with SHA256withRSA.
The certificate is taken only from https://sns.<region>.amazonaws.com (or .amazonaws.com.cn), fetched once per
process and kept. Lambda events spell two keys differently (SigningCertUrl, UnsubscribeUrl): both are read.
"""

from __future__ import annotations

import base64
import binascii
import re
import urllib.request
from typing import Callable
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

Fetch = Callable[[str], bytes]

SIGNED_KEYS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}
HASHES = {"1": hashes.SHA1, "2": hashes.SHA256}
CERT_HOST = re.compile(r"sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?")
MAX_CERT_BYTES = 64 * 1024
CACHE_SIZE = 16  # SNS rotates its certificate rarely; a few URLs per region at most


class NotVerified(Exception):
    """The message may not be believed; the text says why and never echoes the message's content."""


def fetch_certificate(url: str, timeout: float = 5.0) -> bytes:
    """Download a signing certificate (TLS verifies that the host is the one the URL names)."""
    with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310  (https only: check_cert_url)
        return answer.read(MAX_CERT_BYTES + 1)


def _get(sns: dict, key: str):
    return sns.get(key, sns.get(key.replace("URL", "Url")))


def string_to_sign(sns: dict) -> bytes:
    """The canonical text SNS signed for this message."""
    keys = SIGNED_KEYS.get(sns.get("Type"))
    if keys is None:
        raise NotVerified("unknown SNS message type: no signature to check")
    parts = []
    for key in keys:
        value = _get(sns, key)
        if value is None and key == "Subject":
            continue  # signed only when the message has one
        if not isinstance(value, str):
            raise NotVerified(f"unsigned or incomplete SNS message (no {key})")
        parts.append(f"{key}\n{value}\n")
    return "".join(parts).encode("utf-8")


def check_cert_url(url) -> str:
    """Refuse a certificate URL that is not https on an SNS host of AWS."""
    if not isinstance(url, str) or not url:
        raise NotVerified("unsigned SNS message (no SigningCertURL)")
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError as e:
        raise NotVerified("the SigningCertURL is not a URL") from e
    if parts.scheme != "https":
        raise NotVerified("the SigningCertURL is not https")
    if parts.port not in (None, 443) or parts.username or parts.password or not CERT_HOST.fullmatch(host):
        raise NotVerified("the SigningCertURL is not on an sns.<region>.amazonaws.com host")
    if not parts.path.endswith(".pem"):
        raise NotVerified("the SigningCertURL is not a certificate (.pem)")
    return url


class Verifier:
    """Checks topic and signature of each SNS message; one per process, keeping the certificates it fetched."""

    def __init__(self, topic_arn: str | None, fetch: Fetch = fetch_certificate):
        self.topic_arn = topic_arn
        self.fetch = fetch
        self._keys: dict[str, rsa.RSAPublicKey] = {}

    def verify(self, sns: dict) -> None:
        """Return when the message is SNS's own, about the configured topic; else raise NotVerified."""
        if not self.topic_arn:
            raise NotVerified("no SNS topic is configured (DIGEST_SNS_TOPIC_ARN): nothing is believed")
        if sns.get("TopicArn") != self.topic_arn:
            raise NotVerified("the message is not from the configured SNS topic")
        algorithm = HASHES.get(str(sns.get("SignatureVersion")))
        if algorithm is None:
            raise NotVerified("unsigned SNS message (SignatureVersion is not 1 or 2)")
        signature = sns.get("Signature")
        if not isinstance(signature, str) or not signature:
            raise NotVerified("unsigned SNS message (no Signature)")
        url = check_cert_url(_get(sns, "SigningCertURL"))
        try:
            signature_bytes = base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError) as e:
            raise NotVerified("the SNS Signature is not base64") from e
        key = self._key(url)
        try:
            key.verify(signature_bytes, string_to_sign(sns), padding.PKCS1v15(), algorithm())
        except InvalidSignature as e:
            raise NotVerified("the SNS signature does not match the message") from e

    def _key(self, url: str) -> rsa.RSAPublicKey:
        key = self._keys.get(url)
        if key is not None:
            return key
        try:
            pem = self.fetch(url)
        except Exception as e:  # noqa: BLE001  (network, TLS, HTTP status: all mean "cannot check")
            raise NotVerified(f"the signing certificate could not be fetched ({type(e).__name__})") from e
        if len(pem) > MAX_CERT_BYTES:
            raise NotVerified("the signing certificate is too large")
        try:
            key = x509.load_pem_x509_certificate(pem).public_key()
        except ValueError as e:
            raise NotVerified("the signing certificate is not a PEM certificate") from e
        if not isinstance(key, rsa.RSAPublicKey):
            raise NotVerified("the signing certificate's key is not RSA")
        if len(self._keys) >= CACHE_SIZE:
            self._keys.pop(next(iter(self._keys)))
        self._keys[url] = key
        return key
