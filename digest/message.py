"""Assemble one digest as RFC 5322 bytes: multipart/alternative, CRLF, folded headers, QP bodies.

Built by hand because email.message.EmailMessage spends 4-7 ms per digest, most of it choosing
and applying a transfer encoding in pure Python. Even binascii.b2a_qp costs about 8 ns per octet
(~0.45 ms for a 55 KB HTML part here), so the text body is encoded with a few whole-buffer C
passes instead (bytes.replace and .translate, the ascii codec with an error handler for runs of
non-ASCII octets, one regex to cut long lines): about half the time. Tests hold the result
against binascii's a2b_qp/b2a_qp. An HTML part in ASCII with short lines (the renderers write
other characters as references, and break MRML's long lines inside tags) needs no encoding at all.
"""

from __future__ import annotations

import base64
import functools
import codecs
import hashlib
import re
from itertools import repeat
from email.utils import format_datetime
from urllib.parse import urlsplit

from .content import Envelope

_MAX_LINE = 78  # RFC 5322 SHOULD; folding never breaks inside a token (998 is checked at the end)
_WORD_OVERHEAD = len("=?utf-8?q??=")
# Control characters, line separators and bidi/zero-width format characters: a header value keeps
# none of them, so a CR/LF in a name or subject can never start a new header.
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u2028\u2029\u200b\u200c\u200e\u200f\u202a-\u202e\u2060-\u2069\ufeff]"
)
# RFC 2047 section 5(3): the characters an encoded word in a phrase may carry unencoded.
_Q_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")
_Q = tuple(chr(b) if b in _Q_SAFE else "_" if b == 0x20 else f"={b:02X}" for b in range(256))
# A character's Q encoding: letters and digits stand as they are, the rest as their octets; filled as met.
_Q_CHAR = {c: c for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"}
_SPECIALS = re.compile(r'[][\\()<>@,:;".]')
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*")
_DOMAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*")
_MESSAGE_ID = re.compile(r"<[!-;=?A-~]+@[!-;=?A-~]+>")  # printable ASCII but "<", ">", "@"
_HEADER_NAME = re.compile(r"[!-9;-~]+")
# Quoted-printable: C0 controls and DEL have no place in a text or HTML body and are dropped;
# a soft line is at most 75 octets plus "=" and never ends inside an "=XX" escape.
_CONTROL = bytes(range(0x00, 0x09)) + b"\x0b\x0c" + bytes(range(0x0E, 0x20)) + b"\x7f"
_SOFT_LINE = re.compile(rb"(?s).{1,75}(?<!=)(?<!=.)")  # applied to one line at a time
_WSP = (b" ", b"\t")
_B64_LINE = re.compile(rb".{1,76}", re.S)  # base64 output cut into lines of 76
_ESCAPED: dict[str, str] = {}  # "\xc2\xb7" (·) -> "=C2=B7": the same few recur in every digest
_OWN_HEADERS = frozenset(
    h.lower()
    for h in (
        "From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "List-Unsubscribe",
        "List-Unsubscribe-Post", "List-Id", "Content-Type", "Content-Transfer-Encoding", "Cc", "Bcc",
    )
)


def message_id_for(key: str, domain: str) -> str:
    """Return a deterministic Message-ID for key, so a re-sent digest keeps its id."""
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}@{_domain(domain)}>"


class QuotedPrintable(bytes):
    """A text body already quoted-printable encoded (by `encode_text`), e.g. joined from cached pieces."""


def encode_text(text: str) -> QuotedPrintable:
    """Quoted-printable of a text body. Encoding is line by line, so the pieces of a body cut at line ends
    encode separately and join (bytes) to exactly the encoding of the whole."""
    return QuotedPrintable(_qp(text))


def encode_pieces(pieces: list[str]) -> list[QuotedPrintable]:
    """The quoted-printable of each of several pieces cut at line ends, from one pass of the encoder over all of
    them (its cost is mostly per call): the encoded lines are handed back to each piece by its count of lines."""
    lines = _plain_first_lines("".join(pieces))
    out, start = [], 0
    for piece in pieces:
        n = piece.count("\n")
        if n:
            out.append(QuotedPrintable(("\r\n".join(lines[start : start + n]) + "\r\n").encode("ascii")))
            start += n
        else:
            out.append(QuotedPrintable(b""))
    if start < len(lines) and lines[start:] != [""]:  # the last piece did not end its line
        out[-1] = QuotedPrintable(out[-1] + "\r\n".join(lines[start:]).encode("ascii"))
    return out


def _plain_first_lines(body: str) -> list[str]:
    """`_qp_lines(body)` as text, faster for text of mostly plain lines (a digest's own: its links): a printable
    ASCII line with no "=" and no blank at its end is its own encoding, cut every 75 characters when long; any
    other line goes through the encoder alone, memoised (why-lines and greetings recur). Encoding is line-local,
    so the result is the same octets."""
    if "\r" in body:
        return [line.decode("ascii") for line in _qp_lines(body)]
    out = []
    for line in body.split("\n"):
        if "=" not in line and line.isascii() and line.isprintable() and line[-1:] != " " and line != ".":
            if len(line) <= 76:
                out.append(line)
            elif len(line) <= 150 and line[75:] != ".":  # a link's line: one soft break
                out.append(line[:75] + "=\r\n" + line[75:])
            else:
                out.append(_cut(line.encode("ascii")).decode("ascii"))
        else:
            out.append(_line_qp(line))
    return out


@functools.lru_cache(maxsize=1_024)  # why-lines and the like recur; a greeting with a name is one person's
def _line_qp(line: str) -> str:
    return _qp_lines(line)[0].decode("ascii")


def build_message(envelope: Envelope, text: str | QuotedPrintable, html: str) -> bytes:
    """Return the digest as RFC 5322 bytes: text/plain (quoted-printable) first, text/html (7-bit when it is ASCII
    with short lines, else base64) last, UTF-8."""
    message_id = _clean(envelope.message_id)
    if not _MESSAGE_ID.fullmatch(message_id):
        raise ValueError(f"Message-ID must look like <id@domain>, not {envelope.message_id!r}")
    if envelope.date.tzinfo is None or envelope.date.utcoffset() is None:
        raise ValueError("Envelope.date must be timezone-aware")
    text_qp = text if isinstance(text, QuotedPrintable) else _qp(text)
    html_body = _seven_bit(html)
    html_encoding = "7bit"
    if html_body is None:
        html_body, html_encoding = _base64(html), "base64"
    # "=_" cannot occur in quoted-printable output (every "=" there is followed by a hex digit or
    # a line break) nor in base64, and no line of a 7-bit part starts with "--" (`_seven_bit`), so this
    # boundary is safe without scanning the bodies; hashing the
    # Message-ID keeps the bytes the same for the same message whichever transport sends it.
    boundary = "=_" + hashlib.sha256(message_id.encode("ascii")).hexdigest()[:30]
    headers = [
        _address_header("From", envelope.from_addr),
        _address_header.__wrapped__("To", envelope.to_addr),  # one person's: a memo would only hold memory
        _unstructured("Subject", envelope.subject),
        _date_header(envelope.date),
        f"Message-ID: {message_id}\r\n",
        "MIME-Version: 1.0\r\n",
        f"List-Unsubscribe: <{_unsubscribe_url(envelope.list_unsubscribe_url)}>\r\n",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
        _address_header("List-Id", envelope.list_id, list_id=True),
    ]
    for name, value in envelope.extra_headers:
        if not _HEADER_NAME.fullmatch(name) or name.lower() in _OWN_HEADERS:
            raise ValueError(f"extra header {name!r} is not allowed")
        headers.append(_unstructured(name, value))
    headers.append(f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"\r\n\r\n')
    head = "".join(headers)
    if max(map(len, head.split("\r\n"))) > 998:  # only an absurd URL or Message-ID gets here
        raise ValueError("a header line would exceed 998 octets")
    delimiter = f"--{boundary}\r\n".encode("ascii")
    part_headers = 'Content-Type: text/{}; charset="utf-8"\r\nContent-Transfer-Encoding: {}\r\n\r\n'
    return b"".join(
        (
            head.encode("ascii"),  # ascii: an unencoded non-ASCII header would be a bug here
            delimiter,
            part_headers.format("plain", "quoted-printable").encode("ascii"),
            text_qp,
            b"\r\n",
            delimiter,
            part_headers.format("html", html_encoding).encode("ascii"),
            html_body,
            f"\r\n--{boundary}--\r\n".encode("ascii"),
        )
    )


@functools.lru_cache(maxsize=16)  # a run's messages share one date
def _date_header(when) -> str:
    return f"Date: {format_datetime(when)}\r\n"


def _seven_bit(html: str) -> bytes | None:
    """The HTML part as it is, CRLF line ends, when that is 7-bit data (RFC 2045 2.7: ASCII, no NUL, lines of at
    most 998 octets) and no line is a lone "." or ends in white space (a relay may strip it), which quoted-printable
    never leaves either, or starts with "--" (a delimiter starts so). None otherwise.

    Half the time of base64 for a digest, and a quarter fewer octets on the wire."""
    if not html.isascii():  # constant time for a str
        return None
    data = html.encode("ascii").translate(None, _CONTROL)
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    lines = data.split(b"\n")
    # Tested line by line in C: a two-octet search such as b" \n" in data is slower than all of this.
    if (max(map(len, lines)) > 998 or b"." in lines or any(map(bytes.endswith, lines, repeat(_WSP)))
            or any(map(bytes.startswith, lines, repeat(b"--")))):  # no line here can start the boundary
        return None
    return b"\r\n".join(lines)


def _base64(body: str) -> bytes:
    """Base64 of body with CRLF line ends, in lines of 76 (RFC 2045 6.8).

    An HTML part that is not 7-bit data goes as base64: C-speed to encode (quoted-printable of markup full of "="
    is the slowest step of building a digest), and mail clients treat both alike. The text part stays
    quoted-printable, which spam filters expect of plain text (base64 there looks like hiding it).
    """
    data = body.encode("utf-8", "replace").translate(None, _CONTROL)
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return b"\r\n".join(_B64_LINE.findall(base64.b64encode(data.replace(b"\n", b"\r\n"))))


def _qp(body: str) -> bytes:
    """Quoted-printable encode body with CRLF line ends (RFC 2045 6.7), lines <= 76 octets."""
    return b"\r\n".join(_qp_lines(body))


def _qp_lines(body: str) -> list[bytes]:
    """The quoted-printable of each line of body (soft breaks inside, no hard line end)."""
    data = body.encode("utf-8", "replace")  # a lone surrogate from bad input becomes "?"
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    # Escaping "=" first makes every "=" left in the output the start of an "=XX" escape. Then
    # the octets >= 0x80, read as Latin-1 characters, reach _qp_escape run by run through the
    # ascii codec: one C scan, one Python call per run of non-ASCII text.
    data = data.replace(b"=", b"=3D").translate(None, _CONTROL)
    if not data.isascii():
        data = data.replace(b"\xc2\xb7", b"=C2=B7")  # "·" of every why-line and summary: one pass, no codec calls
        if not data.isascii():
            data = data.decode("latin-1").encode("ascii", "jobdigest-qp")
    lines = data.split(b"\n")
    for i, line in enumerate(lines):
        if len(line) > 76 or line[-1:] in _WSP or line == b".":
            lines[i] = _qp_line(line)
    return lines


def _qp_line(line: bytes) -> bytes:
    if line == b".":  # a lone dot ends an SMTP DATA section on a careless relay
        return b"=2E"
    if line[-1:] in _WSP:  # trailing white space may be stripped in transit: encode it
        line = line[:-1] + (b"=20" if line[-1] == 0x20 else b"=09")
    if len(line) <= 76:
        return line
    if b"=" not in line:  # a link's line, say
        return _cut(line)
    chunks = _SOFT_LINE.findall(line)  # never cut inside an "=XX" escape
    if chunks[-1] == b".":
        chunks[-2:] = [chunks[-2] + b"."]  # at most 76 octets, and no lone-dot line
    return b"=\r\n".join(chunks)


def _cut(line: bytes) -> bytes:
    """A long line holding no escape, with a soft break every 75 octets (and no lone-dot line after one)."""
    chunks = [line[i : i + 75] for i in range(0, len(line), 75)]
    if chunks[-1] == b".":
        chunks[-2:] = [chunks[-2] + b"."]
    return b"=\r\n".join(chunks)


def _qp_escape(error: UnicodeEncodeError) -> tuple[str, int]:
    run = error.object[error.start : error.end]
    escaped = _ESCAPED.get(run)
    if escaped is None:
        escaped = "=" + run.encode("latin-1").hex("=").upper()
        if len(_ESCAPED) < 4096:
            _ESCAPED[run] = escaped
    return escaped, error.end


codecs.register_error("jobdigest-qp", _qp_escape)


def _clean(value: str) -> str:
    return " ".join(_UNSAFE.sub(" ", value or "").split())


def _fold(name: str, tokens: list[str]) -> str:
    # Break only between tokens and never straight after the colon; unfolding (removing CRLF)
    # restores the single space that separated them.
    out = [name, ":"]
    column = len(name) + 1
    for i, token in enumerate(tokens):
        if i and column + 1 + len(token) > _MAX_LINE:
            out.append("\r\n ")
            column = 1
        else:
            out.append(" ")
            column += 1
        out.append(token)
        column += len(token)
    out.append("\r\n")
    return "".join(out)


def _encoded_words(text: str, first_room: int) -> list[str]:
    """Split text into RFC 2047 Q encoded words of at most 75 characters, whole characters each.

    A word ends after an encoded space where it can: RFC 2047 decoders drop the white space between
    encoded words, but some (Python's address parser among them) keep it, and a split inside a word
    then shows as "X-Inject ed". Splitting after a space reads the same to both.
    """
    words: list[str] = []
    chunk: list[str] = []
    size = 0
    space = -1  # index in chunk of its last encoded space
    room = max(min(first_room, 75), 24) - _WORD_OVERHEAD
    for char in text:
        encoded = _Q_CHAR.get(char)
        if encoded is None:
            encoded = "".join(_Q[b] for b in char.encode("utf-8"))
            if len(_Q_CHAR) < 4_096:
                _Q_CHAR[char] = encoded
        if chunk and size + len(encoded) > room:
            cut = space + 1 if space >= 0 else len(chunk)
            words.append("=?utf-8?q?" + "".join(chunk[:cut]) + "?=")
            chunk, space, room = chunk[cut:], -1, 75 - _WORD_OVERHEAD
            size = sum(map(len, chunk))
            if chunk and size + len(encoded) > room:  # one word longer than an encoded word holds
                words.append("=?utf-8?q?" + "".join(chunk) + "?=")
                chunk, size = [], 0
        chunk.append(encoded)
        size += len(encoded)
        if encoded == "_":
            space = len(chunk) - 1
    if chunk:
        words.append("=?utf-8?q?" + "".join(chunk) + "?=")
    return words


def _text_tokens(name: str, text: str, quote: bool) -> list[str]:
    plain = text.isascii() and "=?" not in text  # "=?" would be read as an encoded word
    words = text.split()
    if plain and all(len(w) < 900 for w in words):
        if quote and _SPECIALS.search(text):
            escaped = text.replace("\\", "\\\\").replace('"', '\\"')
            return ('"' + escaped + '"').split(" ")
        return words
    if quote:  # a display name is a phrase: encoded whole
        return _encoded_words(text, _MAX_LINE - len(name) - 2)
    return _mixed_words(words, _MAX_LINE - len(name) - 2)


def _plain_word(word: str) -> bool:
    return word.isascii() and "=?" not in word and len(word) < 900


def _mixed_words(words: list[str], first_room: int) -> list[str]:
    """An unstructured value's words, each run of words that cannot stand as they are ("·", "Zürich") in encoded
    words and the rest plain ("5 new backend jobs for you: Python =?utf-8?q?=C2=B7?= Senior"), as mail clients
    write them. A run is encoded whole, its spaces in it: decoders drop the white space between two encoded words."""
    tokens: list[str] = []
    run: list[str] = []
    for word in words:
        if _plain_word(word):
            if run:
                tokens += _encoded_words(" ".join(run), first_room if not tokens else 75)
                run = []
            tokens.append(word)
        else:
            run.append(word)
    if run:
        tokens += _encoded_words(" ".join(run), first_room if not tokens else 75)
    return tokens


@functools.lru_cache(maxsize=512)  # From, List-Id and the commonest subjects repeat across a run's messages
def _unstructured(name: str, value: str) -> str:
    return _fold(name, _text_tokens(name, _clean(value), quote=False))


@functools.lru_cache(maxsize=4096)
def _address_header(name: str, value: str, *, list_id: bool = False) -> str:
    display, addr = _split_address(_clean(value))
    if list_id:
        if not _DOT_ATOM.fullmatch(addr):
            raise ValueError(f"{name} must be 'Name <list.id>', not {value!r}")
    else:
        addr = _addr_spec(addr, name)
    if not display:
        return _fold(name, [f"<{addr}>" if list_id else addr])
    return _fold(name, [*_text_tokens(name, display, quote=True), f"<{addr}>"])


def _split_address(value: str) -> tuple[str, str]:
    if value.endswith(">") and "<" in value:
        at = value.rindex("<")
        display, addr = value[:at].strip(), value[at + 1 : -1].strip()
        if len(display) > 1 and display[0] == display[-1] == '"':
            display = display[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        return display, addr
    return "", value


def _addr_spec(addr: str, name: str) -> str:
    local, _, domain = addr.rpartition("@")
    if not local or not _DOT_ATOM.fullmatch(local):
        raise ValueError(f"{name} address {addr!r} is not a plain ASCII addr-spec")
    return f"{local}@{_domain(domain)}"


def _domain(domain: str) -> str:
    domain = domain.strip().rstrip(".").lower()
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError as e:
            raise ValueError(f"domain {domain!r} cannot be IDNA-encoded") from e
    if not _DOMAIN.fullmatch(domain):
        raise ValueError(f"{domain!r} is not a domain name")
    return domain


# A plain https URL such as every digest's own (base URL, "/unsubscribe/", token): no white space, "<", ">", ","
# or "?" (so no "=?"), and a host; it needs none of the checks below.
_PLAIN_LIST_URL = re.compile(r"https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~!$&'()*+;=:@%/-]*)?")


def _unsubscribe_url(url: str) -> str:
    if _PLAIN_LIST_URL.fullmatch(url):
        return url
    url = _clean(url)
    parts = urlsplit(url)
    # "=?" would let readers that decode RFC 2047 words inside a header value (Python's email) see them in it.
    safe = url.isascii() and not any(c in url for c in " <>,") and "=?" not in url
    if not safe or parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"List-Unsubscribe needs an ASCII http(s) URL, not {url!r}")
    return url
