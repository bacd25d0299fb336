"""C2PA Content Credentials: a declared AI generation is reported next to the faces."""

from __future__ import annotations

import datetime
import io

import pytest

from tests.matching.checks_fixtures import Platform, photo_bytes

c2pa = pytest.importorskip("c2pa")
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_rate_limits")]

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"


@pytest.fixture(scope="module")
def signer():
    """An ES256 signing certificate issued by a throwaway CA (C2PA refuses self-signed ones)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(common_name: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    def usage(**flags) -> x509.KeyUsage:
        names = ("digital_signature", "content_commitment", "key_encipherment",
                 "data_encipherment", "key_agreement", "key_cert_sign", "crl_sign",
                 "encipher_only", "decipher_only")  # fmt: skip
        return x509.KeyUsage(**{n: flags.get(n, False) for n in names})

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("Test CA"))
        .issuer_name(name("Test CA"))
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(usage(digital_signature=True, key_cert_sign=True, crl_sign=True), True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(name("Generator Inc"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage(digital_signature=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    chain = leaf.public_bytes(pem) + ca.public_bytes(pem)
    private = key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return c2pa.Signer.from_info(c2pa.C2paSignerInfo(b"es256", chain, private, None))


def with_credentials(signer, data: bytes, source_type: str) -> bytes:
    manifest = {
        "claim_generator_info": [{"name": "test generator", "version": "1"}],
        "title": "photo.jpg",
        "format": "image/jpeg",
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [{"action": "c2pa.created", "digitalSourceType": IPTC + source_type}]
                },
            }
        ],
    }
    out = io.BytesIO()
    c2pa.Builder(manifest).sign(signer, "image/jpeg", io.BytesIO(data), out)
    return out.getvalue()


def test_a_declared_ai_generation_is_reported_beside_the_faces(signer):
    platform = Platform("Clip Share")
    generated = with_credentials(
        signer, photo_bytes("people/obama/obama.jpg"), "trainedAlgorithmicMedia"
    )
    result = platform.check_file(generated).json()["result"]
    assert result["faces_found"] == 1
    assert result["c2pa"]["checked"] is True
    assert result["c2pa"]["manifest"] is True
    assert result["c2pa"]["ai_generated"] is True
    assert result["c2pa"]["trusted"] is False  # a test CA, on no trust list


def test_credentials_of_a_camera_capture_are_not_ai_and_no_credentials_say_nothing(signer):
    platform = Platform("Clip Share")
    captured = with_credentials(signer, photo_bytes("people/biden/biden.jpg"), "digitalCapture")
    signal = platform.check_file(captured).json()["result"]["c2pa"]
    assert (signal["manifest"], signal["ai_generated"]) == (True, False)
    plain = platform.check_file("people/biden/biden.jpg").json()["result"]["c2pa"]
    assert plain == {"checked": True, "manifest": False, "ai_generated": None}
