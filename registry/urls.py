"""Site URLs.

Each app owns its API routes (``<app>/api/urls.py``) and its pages (``<app>/urls.py``).
"""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from registry import views

api_v1 = [
    path("", include("registry.api.urls")),
    path("", include("consent.api.urls")),
    path("", include("matching.api.urls")),
    path("", include("lifecycle.api.urls")),
]

urlpatterns = [
    path("favicon.ico", views.favicon, name="favicon"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", include(api_v1)),
    path("", include("registry.urls_pages")),
    path("", include("consent.urls")),
    path("", include("matching.urls")),
    path("", include("lifecycle.urls")),
]

handler400 = "registry.views.error_400"
handler403 = "registry.views.error_403"
handler404 = "registry.views.error_404"
handler500 = "registry.views.error_500"
