"""The HTTP Lambda for the subscriber pages, imported as Lambda imports it, and API Gateway HTTP API (payload 2.0)
events as AWS sends them."""

from __future__ import annotations

import base64
import importlib
import sys

import pytest

from digest import db


KEY = "lambda-test-key-0123456789abcdef0123"



HOST = "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com"



PAGE_MAIL_QUEUE = "https://sqs.eu-west-1.amazonaws.com/123456789012/jobdigest-test-page-mail"



@pytest.fixture
def handler(monkeypatch, db_url, tmp_path):
    """`subscribers.lambda_handler.handler`, imported the way Lambda does: environment first, then the module."""
    monkeypatch.setenv("DIGEST_DATABASE_URL", db_url)
    monkeypatch.setenv("DIGEST_SECRET_KEYS", KEY)
    monkeypatch.setenv("DIGEST_TRANSPORT", "outbox")
    monkeypatch.setenv("DIGEST_OUTBOX_DIR", str(tmp_path / "outbox"))
    monkeypatch.setenv("DIGEST_BASE_URL", f"https://{HOST}")
    monkeypatch.setenv("DIGEST_PAGE_MAIL_QUEUE_URL", PAGE_MAIL_QUEUE)
    engines = []
    make_engine = db.make_engine

    def keep(url):  # only to dispose of the module's engine afterwards
        engines.append(make_engine(url))
        return engines[-1]

    monkeypatch.setattr(db, "make_engine", keep)
    name = "subscribers.lambda_handler"
    module = importlib.reload(sys.modules[name]) if name in sys.modules else importlib.import_module(name)
    yield module.handler
    for engine in engines:
        engine.dispose()



def event(method: str, path: str, body: bytes | None = None, content_type: str | None = None) -> dict:
    """An HTTP API payload 2.0 event; a form body arrives base64-encoded, as API Gateway sends it."""
    headers = {
        "accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        "accept-encoding": "gzip, deflate, br", "accept-language": "en-GB,en;q=0.9", "host": HOST,
        "user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0",
        "x-amzn-trace-id": "Root=1-6561f0a0-0123456789abcdef01234567", "x-forwarded-for": "203.0.113.9",
        "x-forwarded-port": "443", "x-forwarded-proto": "https",
    }
    if body is not None:
        headers |= {"content-length": str(len(body)), "content-type": content_type}
    ev = {
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "", "headers": headers,
        "requestContext": {
            "accountId": "123456789012", "apiId": "a1b2c3d4e5", "domainName": HOST, "domainPrefix": "a1b2c3d4e5",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9",
                     "userAgent": headers["user-agent"]},
            "requestId": "PqR0sJ7mIAMEVwA=", "routeKey": "$default", "stage": "$default",
            "time": "23/Nov/2026:09:00:00 +0000", "timeEpoch": 1795424400000,
        },
        "isBase64Encoded": body is not None,
    }
    if body is not None:
        ev["body"] = base64.b64encode(body).decode()
    return ev



def text(response: dict) -> str:
    body = response["body"]
    return base64.b64decode(body).decode() if response["isBase64Encoded"] else body
