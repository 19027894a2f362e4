"""
TLS material for the proxy's port: the certificate's digest (in the unit, so a renewed certificate
restarts the service once) and the check that a certificate and key are usable together. Plain
Python; reads only the paths it is given.
"""

import hashlib
import os
import ssl
import tempfile

from .schema import PILLAR_KEY


def certificate_digest(text):
    """sha256 of the certificate chain's PEM text (public: never computed from the key)."""
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


def pair_problem(cert_path, key_path, cert_key, key_key):
    """Why the certificate at ``cert_path`` and the key at ``key_path`` cannot serve TLS, naming the
    pillar keys they came from, or None. The key's content is never shown."""
    for path, key in ((cert_path, cert_key), (key_path, key_key)):
        if not os.path.isfile(path):
            return f"{PILLAR_KEY}:{key}: {path} is not a file on this minion"
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert_path, key_path)
    except ssl.SSLError as exc:
        reason = getattr(exc, "reason", None) or "unreadable"
        if reason == "KEY_VALUES_MISMATCH":
            return f"{PILLAR_KEY}:{key_key}: is not the key of the certificate in {PILLAR_KEY}:{cert_key}"
        return (f"{PILLAR_KEY}:{cert_key} / {PILLAR_KEY}:{key_key}: not a usable PEM certificate chain and "
                f"private key ({reason})")
    except OSError as exc:
        return f"{PILLAR_KEY}:{cert_key} / {PILLAR_KEY}:{key_key}: cannot be read ({exc.strerror})"
    return None


def text_pair_problem(cert_text, key_text):
    """``pair_problem`` for PEM texts from pillar: checked through root-only temporary files."""
    with tempfile.TemporaryDirectory(prefix="litellm-formula-tls-") as scratch:
        os.chmod(scratch, 0o700)
        cert_path, key_path = os.path.join(scratch, "cert.pem"), os.path.join(scratch, "key.pem")
        for path, text in ((cert_path, cert_text), (key_path, key_text)):
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8") as out:
                out.write(text)
        return pair_problem(cert_path, key_path, "tls:certificate", "tls:key")


def client_context(cafile):
    """An SSL context for the formula's own loopback checks: the proxy must present the deployed
    certificate (or a chain to it). The name is not checked: they reach it as 127.0.0.1, not by the
    name the certificate carries."""
    context = ssl.create_default_context(cafile=cafile)
    context.check_hostname = False
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return context
