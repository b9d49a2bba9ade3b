"""The pagination every service's lists use: DRF's page numbers, read as strictly as documented.

The schema says ``page`` is one positive integer. DRF's ``PageNumberPagination`` also takes
``page=last``, an empty ``page=`` (the first page) and a repeated ``page`` (the last one given);
here each of those is what any other page that does not exist is: a 404 (``Invalid page.``).
"""

from __future__ import annotations

import re
from typing import Any

from rest_framework import pagination
from rest_framework.exceptions import NotFound

_PAGE = re.compile("[0-9]+")


class PageNumberPagination(pagination.PageNumberPagination):  # type: ignore[misc]
    last_page_strings = ()

    def get_page_number(self, request: Any, paginator: Any) -> Any:
        values = request.query_params.getlist(self.page_query_param)
        if not values:
            return 1
        if len(values) != 1 or not _PAGE.fullmatch(values[0]):
            raise NotFound(self.invalid_page_message)
        return values[0]

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"] = {**parameter["schema"], "minimum": 1}
        return parameters
