from __future__ import annotations

from pathlib import Path

import pytest

from infra.errors import ConfigError
from infra.settings import Settings
from models.pseudonym import as_pseudonym, is_pseudonym, pseudonymise
from sdk.producer import complete_envelope, redact


def test_pseudonyms_are_keyed_and_stable() -> None:
    a = pseudonymise("110101 19900101 1234", b"k1")
    assert a == pseudonymise("110101199001011234", b"k1")
    assert a != pseudonymise("110101199001011234", b"k2")
    assert is_pseudonym(a) and as_pseudonym(a, b"k1") == a


def test_sdk_replaces_national_ids_before_sending() -> None:
    event = complete_envelope(
        {"type": "unit.transfused", "payload": {"recipient_national_id": "X123"}}, b"k"
    )
    assert "recipient_national_id" not in event["payload"]
    assert event["payload"]["recipient_id"] == pseudonymise("X123", b"k")
    assert {"event_id", "schema_version", "recorded_at"} <= set(event)


def test_refused_events_are_kept_without_national_ids() -> None:
    raw = b'{"type": "x", "payload": {"donor_national_id": "110101199001011234"}}'
    assert b"110101199001011234" not in redact(raw)


def test_embedded_mode_creates_a_key_file_once(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    key = settings.pseudonym_secret()
    assert key == Settings(data_dir=tmp_path).pseudonym_secret()
    assert (tmp_path / "secrets" / "pseudonym.key").stat().st_mode & 0o777 == 0o600


def test_remote_warehouse_without_key_names_what_was_tried(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, warehouse_url="http://default:pw@ch:8123")
    with pytest.raises(ConfigError) as info:
        settings.pseudonym_secret()
    assert "BLOODTRACE_PSEUDONYM_KEY" in info.value.fields["tried"]


def test_secrets_are_not_shown(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, warehouse_url="http://default:s3cret@ch:8123")
    assert "s3cret" not in str(settings.describe())
    assert "s3cret" not in repr(settings)


def test_thresholds_come_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLOODTRACE_DONOR__MIN_AGE_YEARS", "17")
    monkeypatch.setenv("BLOODTRACE_INGEST__MAX_EVENT_BYTES", "1000")
    settings = Settings()
    assert settings.donor.min_age_years == 17
    assert settings.ingest.max_event_bytes == 1000
    assert settings.donor.whole_to_whole_min_days == 182
