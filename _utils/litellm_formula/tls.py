"""
TLS material for the proxy's port: the certificate's digest (in the unit, so a renewed certificate
restarts the service once), the check that a certificate and key are usable together, and the
client side of the formula's own loopback checks. Plain Python; reads only what it is given. The key
is parsed in memory (never written anywhere) and never quoted in a message.
"""

import hashlib
import re
import ssl

from .schema import PILLAR_KEY

PEM_CERT_RE = re.compile(r"-----BEGIN CERTIFICATE-----\s.*?-----END CERTIFICATE-----", re.S)


def certificate_digest(text):
    """sha256 of the certificate chain's PEM text (public: never computed from the key)."""
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


def leaf_der(chain_pem):
    """DER of the first certificate (the leaf) of a PEM chain, or None."""
    text = chain_pem.decode("ascii", "replace") if isinstance(chain_pem, bytes) else chain_pem
    found = PEM_CERT_RE.search(text)
    return ssl.PEM_cert_to_DER_cert(found.group(0)) if found else None


def pair_problem(cert_pem, key_pem, cert_key, key_key):
    """Why the PEM chain ``cert_pem`` and the PEM key ``key_pem`` (bytes or text) cannot serve TLS,
    naming the pillar keys they came from, or None."""
    try:
        from cryptography import x509  # noqa: PLC0415 - Salt ships it; only TLS needs it
        from cryptography.exceptions import UnsupportedAlgorithm  # noqa: PLC0415
        from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    except ImportError:
        return f"{PILLAR_KEY}:{key_key}: cannot be checked: the minion's Python lacks the cryptography package"
    cert_pem = cert_pem.encode() if isinstance(cert_pem, str) else cert_pem
    key_pem = key_pem.encode() if isinstance(key_pem, str) else key_pem
    der = leaf_der(cert_pem)
    try:
        leaf = x509.load_der_x509_certificate(der) if der else None
    except ValueError:
        leaf = None
    if leaf is None:
        return f"{PILLAR_KEY}:{cert_key}: not a PEM certificate chain"
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:
        return (f"{PILLAR_KEY}:{key_key}: the key is encrypted; the proxy cannot ask for a passphrase: give it "
                "unencrypted (root-only file, or from a secret store)")
    except (ValueError, UnsupportedAlgorithm):
        return f"{PILLAR_KEY}:{key_key}: not a PEM private key"
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*spki) != leaf.public_key().public_bytes(*spki):
        return f"{PILLAR_KEY}:{key_key}: is not the key of the certificate in {PILLAR_KEY}:{cert_key}"
    return None


def file_pair_problem(cert_path, key_path, cert_key, key_key):
    """``pair_problem`` for files on the minion (read as root)."""
    texts = []
    for path, key in ((cert_path, cert_key), (key_path, key_key)):
        try:
            with open(path, "rb") as handle:
                texts.append(handle.read())
        except FileNotFoundError:
            return f"{PILLAR_KEY}:{key}: {path} is not a file on this minion"
        except OSError as exc:
            return f"{PILLAR_KEY}:{key}: {path} cannot be read ({exc.strerror})"
    return pair_problem(texts[0], texts[1], cert_key, key_key)


def client_context(cafile):
    """An SSL context for the formula's own loopback checks, which reach the proxy as 127.0.0.1 (the
    name is not checked) and then pin the leaf (``presents``)."""
    context = ssl.create_default_context(cafile=cafile)
    context.check_hostname = False
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return context


def presents(sock, cafile):
    """Whether the TLS socket ``sock`` presents exactly the leaf certificate of ``cafile``: a chain
    file trusts its intermediates too, so verification alone would accept any certificate they signed."""
    try:
        with open(cafile, "rb") as handle:
            expected = leaf_der(handle.read())
    except OSError:
        return False
    return expected is not None and sock.getpeercert(binary_form=True) == expected
