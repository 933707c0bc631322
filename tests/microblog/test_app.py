"""The microblog app is installed and its models module loads."""

from django.apps import apps


def test_microblog_app_is_installed():
    """The app registry knows the microblog app with its models module."""
    config = apps.get_app_config("microblog")
    assert config.name == "microblog"
    assert config.models_module is not None
