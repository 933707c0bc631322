"""The learning app is installed and its models module loads."""

from django.apps import apps


def test_learning_app_is_installed():
    """The app registry knows the learning app with its models module."""
    config = apps.get_app_config("learning")
    assert config.name == "learning"
    assert config.models_module is not None
