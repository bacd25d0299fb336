"""The one outbound HTTP client refuses internal addresses in every spelling and never redirects."""

from __future__ import annotations

import http.server
import threading

import pytest

from registry.lib.outbound import DestinationRefused, address_is_public, check_url, post

INTERNAL_URLS = [
    "https://127.0.0.1/hook",
    "https://127.1/hook",
    "https://2130706433/hook",
    "https://0x7f000001/hook",
    "https://0177.0.0.1/hook",
    "https://localhost/hook",
    "https://[::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://[::ffff:7f00:1]/hook",
    "https://10.0.0.5/hook",
    "https://172.16.3.4/hook",
    "https://192.168.1.1/hook",
    "https://169.254.169.254/latest/meta-data",
    "https://100.64.0.1/hook",
    "https://0.0.0.0/hook",
    "https://224.0.0.1/hook",
    "https://240.0.0.1/hook",
    "https://[fe80::1]/hook",
    "https://[fc00::1]/hook",
    "https://[64:ff9b::a00:1]/hook",
    "https://[2002:7f00:1::]/hook",
    "https://2130706433:9443/",
]


@pytest.mark.parametrize("url", INTERNAL_URLS)
def test_every_spelling_of_an_internal_address_is_refused(url):
    with pytest.raises(DestinationRefused) as refused:
        check_url(url)
    assert "internal address" in refused.value.message or "HTTPS" in refused.value.message
    assert post(url, body=b"{}", headers={}).error == "destination_refused"


def test_a_name_that_resolves_to_loopback_is_refused():
    def hosts_file(host, port):
        return ["127.0.0.1"] if host == "hooks.partner.example" else ["93.184.216.34"]

    with pytest.raises(DestinationRefused):
        check_url("https://hooks.partner.example/in", resolve=hosts_file)
    assert post(
        "https://hooks.partner.example/in", body=b"{}", headers={}, resolve=hosts_file
    ) == post("https://127.0.0.1/in", body=b"{}", headers={})


def test_a_name_with_one_internal_address_among_public_ones_is_refused():
    """DNS rebinding: the name answers a public and an internal address; neither is used."""

    def rebinding(host, port):
        return ["93.184.216.34", "10.1.2.3"]

    with pytest.raises(DestinationRefused):
        check_url("https://rebind.example/", resolve=rebinding)


def test_public_addresses_pass_and_plain_http_does_not():
    assert check_url("https://hooks.example/", resolve=lambda h, p: ["93.184.216.34"])
    with pytest.raises(DestinationRefused) as refused:
        check_url("http://hooks.example/", resolve=lambda h, p: ["93.184.216.34"])
    assert refused.value.code == "insecure_url"


@pytest.mark.parametrize(
    "url",
    ["ftp://example.org/", "https:///nohost", "https://user:pw@example.org/", "https://[::1/"],
)
def test_malformed_urls_get_a_plain_message(url):
    with pytest.raises(DestinationRefused) as refused:
        check_url(url)
    assert refused.value.status_code == 400 and "/" not in refused.value.message.split("//")[0]


def test_a_name_that_does_not_resolve_is_refused():
    with pytest.raises(DestinationRefused) as refused:
        check_url("https://no-such-host.invalid/")
    assert refused.value.message == "The host name of this URL does not resolve."


def test_address_policy_on_its_own():
    import ipaddress

    assert address_is_public(ipaddress.ip_address("93.184.216.34"))
    assert address_is_public(ipaddress.ip_address("2606:2800:220:1:248:1893:25c8:1946"))
    assert not address_is_public(ipaddress.ip_address("100.100.100.100"))
    assert not address_is_public(ipaddress.ip_address("::ffff:192.168.0.1"))


class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: list[str]

    def do_POST(self):
        self.hits.append(self.path)
        self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/secret")
            self.end_headers()
        else:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"internal answer " * 10_000)

    def log_message(self, *args):
        pass


@pytest.fixture
def local_server():
    handler = type("Handler", (_Recorder,), {"hits": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler.hits
    server.shutdown()
    server.server_close()


def test_a_redirect_is_an_answer_never_followed(local_server):
    base, hits = local_server
    response = post(f"{base}/moved", body=b"{}", headers={}, allow_insecure_localhost=True)
    assert response.status == 302 and not response.ok
    assert hits == ["/moved"]


def test_plain_http_to_localhost_only_when_allowed(local_server):
    base, hits = local_server
    assert post(f"{base}/ok", body=b"{}", headers={}).error == "destination_refused"
    assert hits == []
    response = post(f"{base}/ok", body=b'{"a":1}', headers={}, allow_insecure_localhost=True)
    assert response.ok and response.error == ""
    assert hits == ["/ok"]


def test_nothing_listening_gives_a_short_error_class():
    response = post("http://127.0.0.1:9/", body=b"{}", headers={}, allow_insecure_localhost=True)
    assert response.status is None and response.error == "connection_refused"
