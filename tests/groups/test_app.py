"""The groups app is installed and its models module loads."""

from django.apps import apps


def test_groups_app_is_installed():
    """The app registry knows the groups app with its models module."""
    config = apps.get_app_config("groups")
    assert config.name == "groups"
    assert config.models_module is not None
