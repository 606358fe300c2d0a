"""Model instances from a hand-written statement's row, as the ORM would build them.

A hot path that reads several models in one round trip (a join the ORM would compile on every
call) lists each model's columns with `ModelColumns(model, alias).columns`, and builds each
instance from its slice of the row with `.build(values)`: the fields' database converters (a
JSON field's text, …) applied as the ORM's compiler applies them, then `Model.from_db`.
"""

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from django.db import connection, models

M = TypeVar("M", bound=models.Model)


class ModelColumns(Generic[M]):
    def __init__(self, model: type[M], alias: str) -> None:
        self.model = model
        self.fields = list(model._meta.concrete_fields)
        self.attnames = [field.attname for field in self.fields]
        self.columns = ", ".join(f'{alias}."{field.column}"' for field in self.fields)
        self._converters: list[list[tuple[Callable[..., Any], Any]]] | None = None

    def __len__(self) -> int:
        return len(self.fields)

    def _field_converters(self) -> list[list[tuple[Callable[..., Any], Any]]]:
        if self._converters is None:
            table = self.model._meta.db_table
            converters = []
            for field in self.fields:
                col = field.get_col(table)
                found = connection.ops.get_db_converters(col) + field.get_db_converters(connection)
                converters.append([(converter, col) for converter in found])
            self._converters = converters
        return self._converters

    def build(self, values: Sequence[Any]) -> M:
        converted = list(values)
        for index, converters in enumerate(self._field_converters()):
            for converter, col in converters:
                converted[index] = converter(converted[index], col, connection)
        return self.model.from_db(connection.alias, self.attnames, converted)
