"""Forms of the microblog web UI: compose (with CW, language, image, poll), edit and search.

Forms only check shape (lengths, choices, poll options); the services decide the rest and their
``PostError`` is shown on the form by the views.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.core.validators import MaxLengthValidator
from django.utils.translation import gettext_lazy as _

from microblog import services
from microblog.models import Visibility

VISIBILITY_CHOICES = [
    (Visibility.PUBLIC, _("Public")),
    (Visibility.UNLISTED, _("Unlisted (not in public timelines)")),
    (Visibility.PRIVATE, _("Followers only")),
    (Visibility.DIRECT, _("Mentioned people only")),
]

POLL_DURATIONS = [
    (300, _("5 minutes")),
    (1800, _("30 minutes")),
    (3600, _("1 hour")),
    (6 * 3600, _("6 hours")),
    (86400, _("1 day")),
    (3 * 86400, _("3 days")),
    (7 * 86400, _("7 days")),
]

POLL_FIELDS = 4  # option inputs shown without JavaScript (Mastodon's web UI starts with 4 too)


def max_chars() -> int:
    """The post length limit of this node."""
    return int(getattr(settings, "MICROBLOG_MAX_CHARS", 500))


def post_languages() -> list[tuple[str, str]]:
    """The languages a post can be tagged with (code, native name), as the post service offers them.
    Native names on purpose: a reader of Tibetan or of a Dai language looks for their own script."""
    return services.language_choices()


def ui_to_post_language(code: str | None) -> str:
    """The post language matching a page language (``zh-hans`` -> ``zh-Hans``), or ``zh-Hans``."""
    wanted = (code or "").lower()
    for value, _label in post_languages():
        if value.lower() == wanted:
            return value
    return "zh-Hans"


class _PostTextForm(forms.Form):
    """Fields shared by compose and edit."""

    text = forms.CharField(
        label=_("What's new?"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "class": "compose-text"}),
    )
    summary = forms.CharField(
        label=_("Content warning"),
        required=False,
        max_length=1000,
        help_text=_("Optional. Readers see this first and open the post to read the rest."),
    )
    language = forms.ChoiceField(label=_("Language"), choices=post_languages)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")  # "有什么新鲜事？:" reads badly; labels carry their own punctuation
        super().__init__(*args, **kwargs)
        limit = max_chars()
        text = self.fields["text"]
        assert isinstance(text, forms.CharField)
        text.max_length = limit
        text.validators.append(MaxLengthValidator(limit))
        text.widget.attrs["data-max-chars"] = str(limit)


class ComposeForm(_PostTextForm):
    """A new post or a reply: text, visibility, CW, language, one image with alt text, a poll."""

    visibility = forms.ChoiceField(label=_("Who can see it"), choices=VISIBILITY_CHOICES, initial=Visibility.PUBLIC)
    image = forms.FileField(
        label=_("Image"),
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png,image/gif,image/webp"}),
    )
    image_description = forms.CharField(
        label=_("Image description (alt text)"),
        required=False,
        max_length=1500,
        help_text=_("Describe the image for people who cannot see it."),
    )
    poll_duration = forms.TypedChoiceField(
        label=_("Poll duration"), choices=POLL_DURATIONS, coerce=int, initial=86400, required=False
    )
    poll_multiple = forms.BooleanField(label=_("Allow several choices"), required=False)
    in_reply_to = forms.IntegerField(required=False, widget=forms.HiddenInput)
    idempotency_key = forms.CharField(required=False, max_length=100, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for index in range(1, POLL_FIELDS + 1):
            self.fields[f"poll_option_{index}"] = forms.CharField(
                label=_("Option %(number)d") % {"number": index},
                required=False,
                max_length=int(getattr(settings, "MICROBLOG_MAX_POLL_OPTION_CHARS", 50)),
            )

    def poll_option_fields(self) -> list[forms.BoundField]:
        """The poll option inputs, in order (for the template)."""
        return [self[f"poll_option_{i}"] for i in range(1, POLL_FIELDS + 1)]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        options = [data.get(f"poll_option_{i}", "").strip() for i in range(1, POLL_FIELDS + 1)]
        options = [o for o in options if o]
        data["poll_options"] = options
        if len(options) == 1:
            self.add_error("poll_option_2", _("A poll needs at least two options."))
        if len(set(options)) != len(options):
            self.add_error(None, _("Poll options must differ from each other."))
        if options and data.get("image"):
            self.add_error("image", _("A post can have an image or a poll, not both."))
        if data.get("image_description") and not data.get("image"):
            self.add_error("image", _("Choose the image this description belongs to."))
        if not (data.get("text") or "").strip() and not data.get("image") and "text" not in self.errors:
            self.add_error("text", _("Write something first."))
        return data

    def poll(self) -> dict[str, Any] | None:
        """The ``poll`` argument of ``create_post`` (None without options). Call after ``is_valid``."""
        options = self.cleaned_data.get("poll_options") or []
        if not options:
            return None
        return {
            "options": options,
            "expires_in": self.cleaned_data.get("poll_duration") or 86400,
            "multiple": bool(self.cleaned_data.get("poll_multiple")),
        }


class EditForm(_PostTextForm):
    """Editing one's own post: text, CW and language (visibility and attachments stay)."""

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not (data.get("text") or "").strip() and "text" not in self.errors:
            self.add_error("text", _("Write something first."))
        return data


class SearchForm(forms.Form):
    """The search box: accounts (also ``user@domain``), #hashtags, words, post URLs."""

    q = forms.CharField(
        label=_("Search"),
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": _("Name, user@domain, #tag or words")}),
    )
