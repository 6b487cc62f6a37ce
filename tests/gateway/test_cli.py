"""What ``python -m triton_speech.gateway`` prints for a person and which hosts it serves."""

from __future__ import annotations

from triton_speech import defaults
from triton_speech.gateway.cli import page_address, serving_settings
from triton_speech.gateway.database import Database
from triton_speech.gateway.keys import KeyStore
from triton_speech.gateway.settings import GatewaySettings


def settings(tmp_path, **values) -> GatewaySettings:
    return GatewaySettings(database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}", media_dir=tmp_path / "media",
                           local_key_file=tmp_path / "local-api-key", **values)


def test_on_loopback_the_address_carries_the_local_key(tmp_path):
    address = page_address(settings(tmp_path), "127.0.0.1", 8080)
    prefix, key = address.split("#key=")
    assert prefix == "http://127.0.0.1:8080/"
    database = Database(settings(tmp_path).database_url)
    assert KeyStore(database).verify(key).name == "local"
    database.close()
    assert page_address(settings(tmp_path), "127.0.0.1", 8080) == address  # reused at the next start
    assert page_address(settings(tmp_path), "::1", 8080).startswith("http://[::1]:8080/#key=")


def test_anonymous_and_public_addresses_carry_no_key(tmp_path):
    assert page_address(settings(tmp_path, anonymous=True), "127.0.0.1", 8080) == "http://127.0.0.1:8080/"
    assert page_address(settings(tmp_path), "0.0.0.0", 8080) == "http://0.0.0.0:8080/"
    assert not (tmp_path / "local-api-key").exists()


def test_the_address_listened_on_is_served(tmp_path):
    assert serving_settings(settings(tmp_path), "192.168.1.5").allowed_hosts == (*defaults.ALLOWED_HOSTS,
                                                                                 "192.168.1.5")
    for wildcard_or_served in ("0.0.0.0", "::", "127.0.0.1"):
        assert serving_settings(settings(tmp_path), wildcard_or_served).allowed_hosts == defaults.ALLOWED_HOSTS
