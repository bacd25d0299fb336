"""The one HTTP client for every request the registry makes to a URL that a user gave it.

Webhook deliveries and video-check callbacks (and anything later) go through ``post``. A URL
from a user is an invitation to reach inside our network (server-side request forgery), so:

- the client resolves the host itself and refuses the request unless *every* address the name
  resolves to is a public unicast address: loopback, private, link-local, shared (CGNAT),
  multicast, reserved, unspecified, and IPv6 forms that embed such an IPv4 address are refused,
  however the address is spelt (``2130706433``, ``127.1``, ``0x7f000001``, ``[::ffff:7f00:1]``
  all resolve to 127.0.0.1 first);
- it then connects to the address it checked, not to the name again, so a DNS answer that
  changes between the check and the connection (rebinding) cannot redirect it; TLS still
  verifies the certificate against the host name;
- it never follows redirects (a 3xx is an answer like any other);
- connect, each read and the whole exchange have time limits, and at most
  ``MAX_RESPONSE_BYTES`` of the answer are read; callers keep the status and a short error
  class, never what an endpoint answered (that would turn a delivery log into a port scanner).

Plain HTTP is refused, except to a loopback address when the caller passes
``allow_insecure_localhost`` (local development and tests; the settings forbid it in
production). No Django here: the caller decides that flag from its settings.
"""

from __future__ import annotations

import functools
import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from registry.lib.errors import ValidationFailed

CONNECT_TIMEOUT_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 10.0
TOTAL_TIMEOUT_SECONDS = 20.0
MAX_RESPONSE_BYTES = 64 * 1024
USER_AGENT = "LikenessRegistry/1"

# IPv6 prefixes that carry an IPv4 address in their last 32 bits (NAT64 and the deprecated
# IPv4-compatible form); the embedded address must pass the same test.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")

Resolver = Callable[[str, int], list[str]]


class DestinationRefused(ValidationFailed):
    """The URL may not be called: not HTTPS, or its host is (or resolves to) an internal address."""

    code = "destination_refused"


@dataclass(frozen=True)
class OutboundResponse:
    """What a caller may keep of one attempt: the status, or a short error class."""

    status: int | None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def address_is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether ``address`` is a public unicast address that the registry may connect to."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and (address in _NAT64 or address in _IPV4_COMPATIBLE):
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None and not address_is_public(embedded):
            return False
    return address.is_global and not (
        address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or address.is_loopback
        or address.is_link_local
        or address.is_private
    )


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (numeric spellings included), as the OS sees it.

    Looked up by name at each call, so a test without DNS can stand in for it module-wide."""
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise DestinationRefused("The host name of this URL does not resolve.") from None
    return list(dict.fromkeys(str(info[4][0]) for info in answers))


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]


def _target(url: str, *, allow_insecure_localhost: bool, resolve: Resolver) -> _Target:
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        raise DestinationRefused("This is not a valid URL.") from None
    if parts.scheme not in ("https", "http") or not host:
        raise DestinationRefused("The URL must start with https:// and name a host.")
    if parts.username or parts.password:
        raise DestinationRefused("The URL must not carry a user name or password.")
    port = port or (443 if parts.scheme == "https" else 80)
    addresses = resolve(host, port)
    if not addresses:
        raise DestinationRefused("The host name of this URL does not resolve.")
    parsed = []
    for text in addresses:
        try:
            parsed.append(ipaddress.ip_address(text.split("%", 1)[0]))
        except ValueError:
            raise DestinationRefused("The host name of this URL does not resolve.") from None
    local_allowed = allow_insecure_localhost and all(address.is_loopback for address in parsed)
    if parts.scheme == "http" and not local_allowed:
        raise DestinationRefused("The URL must use HTTPS.", code="insecure_url")
    if not local_allowed and not all(address_is_public(address) for address in parsed):
        raise DestinationRefused(
            "The URL must point to a publicly reachable server, not an internal address."
        )
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return _Target(parts.scheme, host, port, path, tuple(str(a) for a in parsed))


def check_url(
    url: str, *, allow_insecure_localhost: bool = False, resolve: Resolver | None = None
) -> str:
    """Refuse (``DestinationRefused``, a 400 with a plain message) a URL ``post`` would refuse.

    Used when an endpoint is registered, so a bad URL is reported to the person who typed it;
    ``post`` checks again at every delivery, since what a name resolves to can change.
    """
    _target(
        url, allow_insecure_localhost=allow_insecure_localhost, resolve=resolve or system_resolver
    )
    return url


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Built once per process: loading the system's CA certificates for every delivery is waste.
    return ssl.create_default_context()


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to one checked address, with the certificate verified for the URL's host name."""

    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=_tls_context())
        self._address = address

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


def post(
    url: str,
    *,
    body: bytes,
    headers: Mapping[str, str],
    allow_insecure_localhost: bool = False,
    resolve: Resolver | None = None,
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
    read_timeout: float = READ_TIMEOUT_SECONDS,
    total_timeout: float = TOTAL_TIMEOUT_SECONDS,
) -> OutboundResponse:
    """POST ``body`` once; never raises for network trouble, never follows a redirect."""
    deadline = time.monotonic() + total_timeout
    try:
        target = _target(
            url,
            allow_insecure_localhost=allow_insecure_localhost,
            resolve=resolve or system_resolver,
        )
    except DestinationRefused:
        return OutboundResponse(None, "destination_refused")
    connection_class = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(target.host, target.addresses[0], target.port, connect_timeout)
    try:
        connection.putrequest("POST", target.path, skip_accept_encoding=True)
        for name, value in {"User-Agent": USER_AGENT, **headers}.items():
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        connection.sock.settimeout(max(0.1, min(read_timeout, deadline - time.monotonic())))
        response = connection.getresponse()
        remaining = MAX_RESPONSE_BYTES
        # Drain a bounded part of the answer so the server sees a normal close; keep none of it.
        while remaining > 0 and time.monotonic() < deadline:
            chunk = response.read(min(remaining, 8192))
            if not chunk:
                break
            remaining -= len(chunk)
        return OutboundResponse(response.status)
    except TimeoutError:
        return OutboundResponse(None, "timeout")
    except ssl.SSLError:
        return OutboundResponse(None, "tls_error")
    except ConnectionRefusedError:
        return OutboundResponse(None, "connection_refused")
    except (OSError, http.client.HTTPException) as error:
        return OutboundResponse(None, _error_class(error))
    finally:
        connection.close()


def _error_class(error: BaseException) -> str:
    """A short, stable name for what went wrong: no message, no address, no response text."""
    if isinstance(error, http.client.HTTPException):
        return "bad_response"
    return "connection_error"
