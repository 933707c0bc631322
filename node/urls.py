"""URL map of the node. Apps add their own url modules here."""

from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path

from node import views, web

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("", include("federation.urls")),
    path("", include("node.hub_views")),  # hub pages and /api/v1/hub (before microblog's /api/ fallback)
    path("", include("learning.urls")),  # before microblog: its /api/ fallback must not shadow /api/v1/learning
    path("", include("groups.urls")),  # before microblog: its /api/ fallback must not shadow /api/v1/groups
    path("", include("microblog.urls")),
    path("admin/", admin.site.urls),
    path("oauth/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("accounts/login/", web.LoginView.as_view(), name="login"),
    path("accounts/signup", web.signup, name="signup"),
    path("accounts/pending", web.pending_members, name="pending_members"),
    path("accounts/pending/<int:user_id>/approve", web.approve, name="approve_member"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("settings", web.account_settings, name="account_settings"),
    path("@<str:username>", web.profile, name="profile"),
]

if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
