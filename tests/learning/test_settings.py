"""Learning settings are declared in node/config.py (validated, from the environment) and reach
Django's settings under their ``LEARNING_*`` names."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from node.config import ConfigError, LearningLimits, load

BASE = Path(__file__).resolve().parents[2]
MB = 1024 * 1024


def _load(tmp_path, **env):
    return load({"NODE_VAR_DIR": str(tmp_path), "SECRET_KEY": "k" * 50, **env}, BASE)


def test_learning_defaults_when_environment_is_empty(tmp_path):
    """With no variables, the limits are the documented defaults (every node may read keys)."""
    limits = _load(tmp_path).learning
    assert limits == LearningLimits()
    assert limits.max_pdf_bytes == 50 * MB and limits.exam_grace_seconds == 5
    assert limits.answer_key_domains is None


def test_learning_values_read_in_mb_and_domains_normalised(tmp_path):
    """Sizes are given in MB; answer-key domains are normalised host names."""
    limits = _load(
        tmp_path, LEARNING_LIBRARY_MAX_MB="7", LEARNING_ANSWER_KEY_DOMAINS="County-B.example, 127.0.0.1:8102"
    ).learning
    assert limits.library_max_bytes == 7 * MB
    assert limits.answer_key_domains == ("county-b.example", "127.0.0.1:8102")
    assert limits.as_settings()["LEARNING_ANSWER_KEY_DOMAINS"] == ["county-b.example", "127.0.0.1:8102"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LEARNING_MAX_PDF_MB", "lots"),
        ("LEARNING_MAX_VIDEO_MB", "0"),
        ("LEARNING_EXAM_GRACE_SECONDS", "-1"),
        ("LEARNING_LIBRARY_EXTRACT_MEMORY_MB", "1"),
        ("LEARNING_ANSWER_KEY_DOMAINS", "https://county-b.example/"),
    ],
)
def test_learning_invalid_value_refused_naming_variable(tmp_path, name, value):
    """A bad value stops the node with a message naming the variable."""
    with pytest.raises(ConfigError, match=name):
        _load(tmp_path, **{name: value})


def test_learning_settings_reach_django():
    """Every ``LEARNING_*`` setting the app reads is defined in Django's settings (no getattr defaults)."""
    names = LearningLimits().as_settings()
    for name in names:
        assert hasattr(settings, name), name
    source = "".join(p.read_text() for p in (BASE / "learning").glob("*.py"))
    assert "getattr(settings" not in source
