from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from crm.errors import AppError

from .error_codes import api_error
from .models import ApiKey, Scope


class HasRequiredScope(BasePermission):
    """The view's `required_scopes[method]` must be among the key's scopes.

    A method the view does not list is refused: forgetting to declare a scope closes the
    endpoint instead of opening it.
    """

    def has_permission(self, request: Request, view: Any) -> bool:
        api_key = request.auth
        if not isinstance(api_key, ApiKey):
            return False
        scope = view.required_scope(request.method)
        if scope is None:
            message = f"{type(view).__name__} 没有为 {request.method} 声明权限范围。"
            raise AppError("scope_undeclared", message, status=403)
        if scope not in Scope.values:
            raise AppError("scope_undeclared", f"未知的权限范围 {scope}。", status=403)
        if not api_key.has_scope(scope):
            raise api_error("scope_missing", status=403, scope=scope)
        return True
