"""Which CAs an https target is checked against: SSL_CERT_FILE / SSL_CERT_DIR as OpenSSL reads
them, certifi's bundle only where the system has none, and a variable naming nothing is bad
input."""

from __future__ import annotations

import ssl
from pathlib import Path

import certifi
import pytest

from loadgen.errors import LoadgenError
from loadgen.run.tls_trust import check_ca_env, trusting_context

CA_ENV = ("SSL_CERT_FILE", "SSL_CERT_DIR")


@pytest.fixture(autouse=True)
def _no_ca_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CA_ENV:
        monkeypatch.delenv(name, raising=False)


def _empty_store() -> ssl.SSLContext:
    """A client context with no CA at all: a system without a CA bundle."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def _certifi_count() -> int:
    context = _empty_store()
    context.load_verify_locations(cafile=certifi.where())
    return int(context.cert_store_stats()["x509_ca"])


def test_a_system_without_cas_gets_certifi() -> None:
    context = trusting_context(_empty_store)
    assert context.cert_store_stats()["x509_ca"] == _certifi_count() > 0


def test_a_named_ca_file_is_never_topped_up_with_certifi(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "private-ca.pem"))
    assert trusting_context(_empty_store).cert_store_stats()["x509_ca"] == 0


def test_the_system_store_is_kept_as_it_is() -> None:
    system = ssl.create_default_context().cert_store_stats()["x509_ca"]
    assert trusting_context(ssl.create_default_context).cert_store_stats()["x509_ca"] == system


@pytest.mark.parametrize(("name", "kind"), [("SSL_CERT_FILE", "file"), ("SSL_CERT_DIR", "dir")])
def test_a_variable_naming_nothing_is_bad_input(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, kind: str
) -> None:
    missing = tmp_path / "missing"
    monkeypatch.setenv(name, str(missing))
    with pytest.raises(LoadgenError, match=f"^{name}={missing}: no such {kind}"):
        check_ca_env()


def test_variables_naming_a_file_and_a_directory_pass(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    check_ca_env()  # neither set
    (tmp_path / "ca.pem").write_text("")
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    check_ca_env()
