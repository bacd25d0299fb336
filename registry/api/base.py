"""What every API view shares: ``ApiView``, the base class of every view under ``/api/v1/``.

It refuses, as a 400 in the one error envelope, URL parts no operation can mean: a NUL
character in a path or query parameter (PostgreSQL cannot compare text holding one, so it would
otherwise surface as a server error deep inside a lookup). Its schema side is in
``registry.api.schema``.
"""

from __future__ import annotations

from rest_framework.request import Request
from rest_framework.views import APIView

from registry.lib.errors import ValidationFailed


class ApiView(APIView):
    def initial(self, request: Request, *args, **kwargs) -> None:
        for name, value in (self.kwargs or {}).items():
            if isinstance(value, str) and "\x00" in value:
                raise ValidationFailed(f"{name}: a NUL character is not allowed in the URL.")
        for name, values in request.query_params.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                raise ValidationFailed(
                    f"{name.replace(chr(0), '')}: a NUL character is not allowed in the URL."
                )
        super().initial(request, *args, **kwargs)
