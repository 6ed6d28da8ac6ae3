"""Which certificate authorities an https target is checked against, the same in every process.

The system's CA store as OpenSSL finds it: SSL_CERT_FILE in place of its bundle and SSL_CERT_DIR
in place of its hashed directory (a private CA for a self-hosted engine), as urllib, curl and
the openai SDK's TLS read them. Where the system has no CA at all, certifi's bundle.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable

import certifi

from loadgen.errors import LoadgenError

CA_FILE_ENV = "SSL_CERT_FILE"
CA_DIR_ENV = "SSL_CERT_DIR"


def check_ca_env() -> None:
    """LoadgenError (one line) if SSL_CERT_FILE or SSL_CERT_DIR names nothing usable: OpenSSL
    would skip it silently, and every https request would then fail verification."""
    ca_file, ca_dir = os.environ.get(CA_FILE_ENV), os.environ.get(CA_DIR_ENV)
    if ca_file and not os.path.isfile(ca_file):
        raise LoadgenError(f"{CA_FILE_ENV}={ca_file}: no such file (a PEM bundle of CAs)")
    if ca_dir and not os.path.isdir(ca_dir):
        raise LoadgenError(f"{CA_DIR_ENV}={ca_dir}: no such directory (hashed CA certificates)")


def trusting_context(make: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    """A client context from `make` (ssl's or gevent.ssl's create_default_context: it loads the
    system's store, SSL_CERT_FILE and SSL_CERT_DIR honoured), with certifi's bundle added only
    where neither variable is set and the system's bundle holds no CA."""
    context = make()
    named = os.environ.get(CA_FILE_ENV) or os.environ.get(CA_DIR_ENV)
    if not named and not context.cert_store_stats()["x509_ca"]:
        context.load_verify_locations(cafile=certifi.where())
    return context
