"""Who sent a request: AWS Signature Version 4, in the Authorization header or in a
presigned URL's query, checked as S3 checks it (and Version 2, auth_v2.py).

The canonical request is rebuilt from what arrived (the raw path, every query parameter,
the signed headers, the payload hash the client declared), signed with the secret of the
access key named in the credential scope, and compared in constant time. The request's
time must be within 15 minutes of ours; a presigned URL must not have expired. A
declared payload SHA256 is checked against the body once it has been read (payload.py),
and aws-chunked bodies carry a signature per chunk, seeded by this request's
(`Signed.signature`).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, unquote, unquote_to_bytes

from deltaglider.app.gateway import auth_v2
from deltaglider.app.gateway.errors import S3Error, access_denied, invalid_request
from deltaglider.app.gateway.http import Request, parse_http_date
from deltaglider.core.errors import ConfigError

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
MAX_SKEW = 15 * 60  # seconds, as S3 allows
MAX_EXPIRES = 7 * 24 * 3600  # a presigned URL's longest life, as S3 allows
AMZ_DATE = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class Signed:
    """A request whose signature was checked (or, with no users configured, only read)."""

    access_key: str
    payload: str  # x-amz-content-sha256: a hex SHA256, UNSIGNED-PAYLOAD or STREAMING-...
    signing_key: bytes | None  # None: not checked (no users configured)
    scope: str  # date/region/service/aws4_request
    amz_date: str
    signature: str


def load_users(path: Path) -> dict[str, str]:
    """`ACCESS_KEY SECRET_KEY` a line; blank lines and `#` comments skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--users {path}: {exc.strerror}") from None
    users: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if len(fields) != 2:
            raise ConfigError(f"--users {path}, line {number}: expected ACCESS_KEY SECRET_KEY")
        users[fields[0]] = fields[1]
    return users


class Authenticator:
    """Checks SigV4 signatures against the configured users."""

    def __init__(
        self,
        users: Mapping[str, str],
        *,
        allow_anonymous: bool,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.users = dict(users)
        self.allow_anonymous = allow_anonymous
        self.now = now

    def authenticate(self, request: Request) -> Signed | None:
        """The checked signature, or None for an anonymous request that is allowed."""
        header = request.header("authorization")
        if header is not None:
            if header.startswith("AWS "):
                return self._check_v2_header(request, header)
            if not header.startswith(ALGORITHM + " "):
                raise _unsupported()
            return self._check_header(request, header)
        if "X-Amz-Signature" in request.query or "X-Amz-Credential" in request.query:
            return self._check_query(request)
        if "Signature" in request.query and "AWSAccessKeyId" in request.query:
            return self._check_v2_query(request)
        if not self.allow_anonymous:
            raise access_denied()
        return None

    # ------------------------------------------------------------------ the two forms

    def _check_header(self, request: Request, header: str) -> Signed:
        fields = _header_fields(header[len(ALGORITHM) + 1 :])
        credential, signed_headers, signature = (
            fields.get("Credential"), fields.get("SignedHeaders"), fields.get("Signature"),
        )  # fmt: skip
        if not credential or not signed_headers or not signature:
            raise _malformed("the Authorization header is incomplete")
        amz_date = request.header("x-amz-date") or _basic_date(request.header("date"))
        if amz_date is None:
            raise access_denied_with(
                "AWS authentication requires a valid Date or x-amz-date header"
            )
        payload = request.header("x-amz-content-sha256")
        if payload is None:
            raise invalid_request("Missing required header for this request: x-amz-content-sha256")
        moment = _parse_amz_date(amz_date)
        if abs(self.now() - moment) > MAX_SKEW:
            raise _skewed(amz_date, self.now())
        return self._verify(
            request, credential, signed_headers, signature, amz_date, payload, presigned=False
        )

    def _check_query(self, request: Request) -> Signed:
        query = request.query
        if query.get("X-Amz-Algorithm") != ALGORITHM:
            raise _query_error('X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"')
        needed = ("X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Signature")
        if any(not query.get(name) for name in needed):
            raise _query_error("Query-string authentication requires the X-Amz-Algorithm, "
                               "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, "
                               "X-Amz-SignedHeaders, and X-Amz-Expires parameters.")  # fmt: skip
        amz_date = query["X-Amz-Date"]
        moment = _parse_amz_date(amz_date)
        expires = query.get("X-Amz-Expires", "")
        if not expires.isdigit() or not 0 < int(expires) <= MAX_EXPIRES:
            raise _query_error("X-Amz-Expires must be from 1 to 604800 seconds")
        now = self.now()
        if moment - now > MAX_SKEW:
            raise _skewed(amz_date, now)
        if now > moment + int(expires):
            raise access_denied_with("Request has expired")
        payload = request.header("x-amz-content-sha256") or UNSIGNED_PAYLOAD
        return self._verify(
            request, query["X-Amz-Credential"], query["X-Amz-SignedHeaders"],
            query["X-Amz-Signature"], amz_date, payload, presigned=True,
        )  # fmt: skip

    def _check_v2_header(self, request: Request, header: str) -> Signed:
        access_key, _, given = header[len("AWS ") :].strip().rpartition(":")
        if not access_key or not given:
            raise invalid_request("the Authorization header is not AWS KEY:SIGNATURE")
        date = request.header("x-amz-date") or request.header("date")
        moment = parse_http_date(date) if date else None
        if moment is None:
            raise access_denied_with(
                "AWS authentication requires a valid Date or x-amz-date header"
            )
        if abs(self.now() - moment.timestamp()) > MAX_SKEW:
            raise _skewed(moment.strftime(AMZ_DATE), self.now())
        return self._verify_v2(request, access_key, given, request.header("date") or "")

    def _check_v2_query(self, request: Request) -> Signed:
        expires = request.query.get("Expires", "")
        if not expires.isdigit():
            raise access_denied_with("Query-string authentication requires Expires")
        if self.now() > int(expires):
            raise access_denied_with("Request has expired")
        access_key, given = request.query["AWSAccessKeyId"], request.query["Signature"]
        return self._verify_v2(request, access_key, given, expires)

    def _verify_v2(self, request: Request, access_key: str, given: str, date: str) -> Signed:
        if self.users:
            auth_v2.check(self.users, access_key, given, auth_v2.string_to_sign(request, date))
        return Signed(access_key, UNSIGNED_PAYLOAD, None, "", "", given)

    def _verify(
        self, request: Request, credential: str, signed_headers: str, signature: str,
        amz_date: str, payload: str, *, presigned: bool,
    ) -> Signed:  # fmt: skip
        parts = credential.split("/")
        if len(parts) != 5 or parts[4] != "aws4_request":
            raise _malformed(f"the credential {credential!r} is not of the form "
                             "ACCESS_KEY/date/region/service/aws4_request")  # fmt: skip
        access_key, date, region, service = parts[:4]
        if service != "s3":
            raise _malformed(f'incorrect service "{service}". This endpoint belongs to "s3".')
        if date != amz_date[:8]:
            raise _malformed(f'invalid credential date "{date}": it must be {amz_date[:8]}')
        scope = f"{date}/{region}/{service}/aws4_request"
        if not self.users:  # anonymous access allowed and nobody to check against
            return Signed(access_key, payload, None, scope, amz_date, signature)
        secret = self.users.get(access_key)
        if secret is None:
            raise S3Error("InvalidAccessKeyId", 403,
                          "The AWS Access Key Id you provided does not exist in our records.",
                          extra={"AWSAccessKeyId": access_key})  # fmt: skip
        canonical = canonical_request(request, signed_headers.split(";"), payload, presigned)
        to_sign = "\n".join(
            (ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest())
        )
        key = signing_key(secret, date, region, service)
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise S3Error(
                "SignatureDoesNotMatch", 403,
                "The request signature we calculated does not match the signature you "
                "provided. Check your key and signing method.",
                extra={"AWSAccessKeyId": access_key, "StringToSign": to_sign,
                       "CanonicalRequest": canonical},
            )  # fmt: skip
        return Signed(access_key, payload, key, scope, amz_date, signature)


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def canonical_request(
    request: Request, signed_headers: list[str], payload: str, presigned: bool
) -> str:
    """SigV4's canonical request for S3 (paths are not normalized, only encoded)."""
    path = quote(unquote_to_bytes(request.raw_path), safe=b"/~")
    pairs = []
    for piece in filter(None, request.query_string.split("&")):
        name, _, value = piece.partition("=")
        name, value = unquote(name), unquote(value)
        if presigned and name == "X-Amz-Signature":
            continue
        pairs.append((quote(name, safe="-_.~"), quote(value, safe="-_.~")))
    query = "&".join(f"{k}={v}" for k, v in sorted(pairs))
    headers = "".join(
        f"{name}:{' '.join(request.headers.get(name, '').split())}\n" for name in signed_headers
    )
    return "\n".join((request.method, path, query, headers, ";".join(signed_headers), payload))


def _header_fields(text: str) -> dict[str, str]:
    fields = {}
    for part in text.split(","):
        name, _, value = part.strip().partition("=")
        fields[name] = value
    return fields


def _parse_amz_date(text: str) -> float:
    try:
        return datetime.strptime(text, AMZ_DATE).replace(tzinfo=UTC).timestamp()
    except ValueError:
        raise access_denied_with(f"Invalid date {text!r}: use ISO 8601 basic format") from None


def _basic_date(header: str | None) -> str | None:
    moment = parse_http_date(header) if header else None
    return moment.astimezone(UTC).strftime(AMZ_DATE) if moment else None


def _skewed(amz_date: str, now: float) -> S3Error:
    return S3Error(
        "RequestTimeTooSkewed", 403,
        "The difference between the request time and the current time is too large.",
        extra={"RequestTime": amz_date, "ServerTime": time.strftime(AMZ_DATE, time.gmtime(now)),
               "MaxAllowedSkewMilliseconds": str(MAX_SKEW * 1000)},
    )  # fmt: skip


def access_denied_with(message: str) -> S3Error:
    error = access_denied()
    error.message = message
    return error


def _malformed(detail: str) -> S3Error:
    return S3Error("AuthorizationHeaderMalformed", 400,
                   f"The authorization header is malformed; {detail}")  # fmt: skip


def _query_error(message: str) -> S3Error:
    return S3Error("AuthorizationQueryParametersError", 400, message)


def _unsupported() -> S3Error:
    return invalid_request("The authorization mechanism you have provided is not supported. "
                           "Please use AWS4-HMAC-SHA256.")  # fmt: skip
