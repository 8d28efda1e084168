"""The base resource of every Spotilytics import and export, and its widgets.

django-import-export's own widgets turn any unknown boolean into False, report a bad
number as `decimal.ConversionSyntax` and a missing reference as `matching query does
not exist`. These widgets refuse what they cannot read, with a message that names the
value and says what is expected. `SpotilyticsResource` adds what a trustworthy import
needs on top: duplicate keys inside one file are refused, unchanged rows are skipped,
errors are keyed by the column of the file, and no sequence is ever reset.
"""

from __future__ import annotations

import ast
import re
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from import_export import resources, widgets
from import_export.fields import Field

from spotilytics.importing.exporting import unneutralise
from spotilytics.importing.headers import Alias, HeaderMap
from spotilytics.importing.problems import Problem, describe_exception

# The hidden column that carries a row's line in the file through django-import-export.
LINE = "_line"

_TRUE = {"1", "true", "t", "yes", "y"}
_FALSE = {"0", "false", "f", "no", "n"}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # XLSX stores 12 as 12.0
    return str(value).strip()


def _number_text(value: Any) -> str:
    text = _text(value).replace(" ", "").replace("\u00a0", "")
    if "," in text and "." in text:
        # "1,234.56" and "1.234,56": the last separator is the decimal one.
        decimal_mark = "," if text.rfind(",") > text.rfind(".") else "."
        thousands = "." if decimal_mark == "," else ","
        text = text.replace(thousands, "").replace(decimal_mark, ".")
    elif text.count(",") == 1:
        text = text.replace(",", ".")  # a decimal comma, as European spreadsheets write
    return text


class TextWidget(widgets.CharWidget):
    """Text. A leading quote that our exports add against formulas is taken off again."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_blank=True, **kwargs)

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> str:
        return unneutralise(_text(value))

    def render(self, value: Any, obj: Any = None, **kwargs: Any) -> str:
        return "" if value is None else str(value)


class OptionalKeyWidget(TextWidget):
    """An optional unique identifier: empty is NULL, so two rows without one never clash."""

    def __init__(self, *, upper: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.upper = upper

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> str | None:  # type: ignore[override]
        text = super().clean(value, row, **kwargs)
        return (text.upper() if self.upper else text) or None


class UpperTextWidget(TextWidget):
    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> str:
        return super().clean(value, row, **kwargs).upper()


class DecimalWidget(widgets.DecimalWidget):
    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> Decimal | None:
        if isinstance(value, float):
            value = repr(value)
        text = _number_text(value)
        if not text:
            return None
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"{_text(value)!r} is not a number") from None
        if not number.is_finite():
            raise ValueError(f"{_text(value)!r} is not a number")
        return number

    def render(self, value: Any, obj: Any = None, **kwargs: Any) -> Any:
        if kwargs.get("force_native_type"):
            return value
        return "" if value is None else format(value, "f")


class IntegerWidget(widgets.IntegerWidget):
    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> int | None:
        text = _number_text(value)
        if not text:
            return None
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"{_text(value)!r} is not a number") from None
        if not number.is_finite() or number != number.to_integral_value() or abs(number) > 10**18:
            raise ValueError(f"{_text(value)!r} is not a whole number")
        return int(number)

    def render(self, value: Any, obj: Any = None, **kwargs: Any) -> Any:
        if kwargs.get("force_native_type"):
            return value
        return "" if value is None else str(value)


class FloatWidget(widgets.FloatWidget):
    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> float | None:
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
        else:
            text = _number_text(value)
            if not text:
                return None
            try:
                number = float(Decimal(text))
            except InvalidOperation:
                raise ValueError(f"{_text(value)!r} is not a number") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError(f"{_text(value)!r} is not a number")
        return number

    def render(self, value: Any, obj: Any = None, **kwargs: Any) -> Any:
        if kwargs.get("force_native_type"):
            return value
        return "" if value is None else repr(value)


class BooleanWidget(widgets.BooleanWidget):
    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> bool | None:
        if isinstance(value, bool):
            return value
        text = _text(value).lower()
        if not text:
            return None
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError(f"{_text(value)!r} is not yes or no; write true/false, yes/no or 1/0")

    def render(self, value: Any, obj: Any = None, **kwargs: Any) -> Any:
        if kwargs.get("force_native_type"):
            return value
        return "" if value is None else ("true" if value else "false")


class DateWidget(widgets.DateWidget):
    """ISO dates (2026-01-31). With `partial`, also 2026-01 and 2026 (first day)."""

    def __init__(self, *, partial: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.partial = partial

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> date | None:
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        text = _text(value)
        if not text:
            return None
        patterns = [r"(\d{4})-(\d{1,2})-(\d{1,2})"]
        if self.partial:
            patterns += [r"(\d{4})-(\d{1,2})()", r"(\d{4})()()"]
        for pattern in patterns:
            match = re.fullmatch(pattern + r"(?:[ T]00:00(?::00)?)?", text)
            if match:
                try:
                    return date(int(match[1]), int(match[2] or 1), int(match[3] or 1))
                except ValueError:
                    break
        raise ValueError(f"{text!r} is not a date; write dates as YYYY-MM-DD, for example 2026-01-31")

    def render(self, value: Any, obj: Any = None, **kwargs: Any) -> Any:
        if kwargs.get("force_native_type"):
            return value
        return "" if value is None else value.isoformat()


class DateTimeWidget(widgets.DateTimeWidget):
    """ISO 8601 instants. Without an offset a time is read in the reporting time zone."""

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> datetime | None:
        if isinstance(value, datetime):
            moment = value
        elif isinstance(value, date):
            moment = datetime.combine(value, time())
        else:
            text = _text(value)
            if not text:
                return None
            try:
                moment = parse_datetime(text.replace("Z", "+00:00"))
                if moment is None and re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                    moment = datetime.combine(date.fromisoformat(text), time())
            except ValueError:
                moment = None
            if moment is None:
                raise ValueError(
                    f"{text!r} is not a date and time; write YYYY-MM-DD HH:MM:SS, "
                    "for example 2026-01-31 18:30:00 or 2026-01-31T18:30:00+01:00"
                )
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment)
        return moment

    def render(self, value: Any, obj: Any = None, **kwargs: Any) -> Any:
        if value is None:
            return ""
        local = timezone.localtime(value)
        # Native values stay aware: the CSV writer keeps the offset, the XLSX writer
        # drops it after converting to the reporting time zone.
        return local if kwargs.get("force_native_type") else local.isoformat(sep=" ")


class ChoiceWidget(TextWidget):
    """A value of a `choices` field, given as its value or its label, in any case."""

    def __init__(self, choices: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.values = {str(value).lower(): value for value, _ in choices}
        self.values.update({str(label).lower(): value for value, label in choices})
        self.allowed = ", ".join(str(value) for value, _ in choices)

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> Any:
        text = super().clean(value, row, **kwargs)
        if not text:
            return ""
        try:
            return self.values[text.lower()]
        except KeyError:
            raise ValueError(f"{text!r} is not one of: {self.allowed}") from None


class LookupWidget(widgets.ForeignKeyWidget):
    """A reference by a natural key (an email, a plan code), with a plain message."""

    def __init__(self, model: type[Model], field: str, *, noun: str | None = None, **kwargs: Any) -> None:
        super().__init__(model, field, **kwargs)
        self.noun = noun or model._meta.verbose_name
        self._cache: dict[Any, Model] = {}

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> Model | None:
        key = unneutralise(_text(value))
        if not key:
            return None
        if self.field == "pk":
            try:
                key = int(Decimal(key))
            except (InvalidOperation, ValueError):
                raise ValueError(f"{key!r} is not a {self.noun} id (a whole number)") from None
        if key in self._cache:
            return self._cache[key]
        try:
            found = self.model.objects.get(**{f"{self.field}__iexact" if self.field != "pk" else "pk": key})
        except self.model.DoesNotExist:
            raise ValueError(f"there is no {self.noun} with {self._key_name()} {key!r}") from None
        except self.model.MultipleObjectsReturned:
            raise ValueError(f"several {self.noun}s have {self._key_name()} {key!r}") from None
        self._cache[key] = found
        return found

    def render(self, value: Any, obj: Any = None, **kwargs: Any) -> Any:
        if value is None:
            return ""
        rendered = value.pk if self.field == "pk" else getattr(value, self.field)
        return rendered if kwargs.get("force_native_type") else str(rendered)

    def _key_name(self) -> str:
        return "id" if self.field == "pk" else self.field.replace("_", " ")


def column(name: str, widget: widgets.Widget, *, attribute: str | None = None, **kwargs: Any) -> Field:
    """A resource field whose column is named like its attribute unless said otherwise."""
    return Field(
        attribute=attribute if attribute is not None else name, column_name=name, widget=widget, **kwargs
    )


def split_names(value: Any) -> list[str]:
    """`A;B`, or a Python list as some datasets write it (`['A', 'B']`), to names."""
    text = _text(value)
    if text.startswith("[") and text.endswith("]"):
        try:
            parsed = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            parsed = None
        if isinstance(parsed, list | tuple):
            return [str(name).strip() for name in parsed if str(name).strip()]
    return [unneutralise(name.strip()) for name in text.split(";") if name.strip()]


class SpotilyticsResource(resources.ModelResource):
    """Base of every resource: plain errors, in-file duplicate keys, honest skip counts."""

    #: normalized header -> column, for files laid out by someone else.
    aliases: ClassVar[dict[str, Alias]] = {}
    #: columns whose values identify a row; a second row with the same key is refused.
    file_key: ClassVar[tuple[str, ...]] = ()
    #: columns a file must have (by name or alias) to be imported at all.
    required_columns: ClassVar[tuple[str, ...]] = ()
    #: exported for reference (such as a database id) but never read on import.
    export_only_columns: ClassVar[tuple[str, ...]] = ()
    #: read on import, never exported (parts of a value another column exports).
    extra_import_columns: ClassVar[tuple[str, ...]] = ()
    #: relations an export reads per row, fetched with the rows instead of one by one.
    export_select_related: ClassVar[tuple[str, ...]] = ()
    export_prefetch_related: ClassVar[tuple[str, ...]] = ()
    #: column -> ORM path, for a flat `values_list` export of big tables; the values
    #: must be exactly what the column's widget exports (tests compare both ways).
    export_paths: ClassVar[dict[str, str]] = {}

    class Meta:
        skip_diff = True
        clean_model_instances = True
        report_skipped = True
        use_transactions = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._seen_keys: dict[tuple, int] = {}
        self._snapshot: dict[str, Any] | None = None
        self.preview: list[tuple[int, str, list[str]]] = []
        self.preview_limit = kwargs.get("preview_limit", 100)

    # --- columns -------------------------------------------------------------------

    @classmethod
    def import_columns(cls) -> list[str]:
        names = [field.column_name for field in cls().get_import_fields()]
        return [name for name in names if name not in cls.export_only_columns] + list(
            cls.extra_import_columns
        )

    def column_of(self, key: str) -> str:
        """The column an error key (a field name, attribute or model field) belongs to."""
        for name, field in self.fields.items():
            attribute = field.attribute or ""
            if (
                key in (name, field.column_name, attribute, attribute.split("__")[0])
                or attribute == f"{key}_id"
            ):
                return field.column_name
        return key

    def header_problems(self, header_map: HeaderMap) -> list[Problem]:
        """Problems of the file's header row, found before any row is read."""
        if not header_map.indexes:
            return [Problem("none of the file's columns is known here; " + self.describe_columns())]
        return [
            Problem(f"the file has no {name!r} column{self._alias_hint(name)}")
            for name in self.required_columns
            if name not in header_map.indexes
        ]

    @classmethod
    def describe_columns(cls) -> str:
        return "the columns are: " + ", ".join(cls.import_columns())

    def _alias_hint(self, name: str) -> str:
        names = sorted({alias for alias, target in self.aliases.items() if target.column == name})
        return f" (also accepted: {', '.join(names)})" if names else ""

    def related_created(self) -> dict[str, int]:
        """Objects of other models this import created by name, e.g. {"artists": 3}."""
        return {}

    # --- import hooks --------------------------------------------------------------

    def before_import_row(self, row: dict, **kwargs: Any) -> None:
        if not self.file_key:
            return
        values = tuple(_text(row.get(name)).lower() for name in self.file_key)
        if not values[0]:
            return  # a row without its key is reported as such by its own column
        line = row.get(LINE)
        first = self._seen_keys.setdefault(values, line)
        if first != line:
            label = " and ".join(self.file_key)
            raise ValidationError(
                {
                    self.file_key[0]: (
                        f"the {label} {', '.join(repr(v) for v in values)} is already on line {first}; "
                        f"each {self._meta.model._meta.verbose_name} may appear only once in a file"
                    )
                }
            )

    def _check_import_id_fields(self, headers: Any) -> None:
        # `header_problems` already named every missing column in plain words.
        return None

    def get_instance(self, instance_loader: Any, row: dict) -> Model | None:
        # A key that cannot be read means a new row here; `import_instance` then reports
        # the value against its column instead of a bare exception without one.
        try:
            return super().get_instance(instance_loader, row)
        except (ValueError, ArithmeticError):
            return None

    def after_init_instance(self, instance: Model, new: bool, row: dict, **kwargs: Any) -> None:
        self._snapshot = None if new else self._values(instance)

    def import_instance(self, instance: Model, row: dict, **kwargs: Any) -> None:
        errors: dict[str, ValidationError] = {}
        for field in self.get_import_fields():
            if isinstance(field.widget, widgets.ManyToManyWidget):
                continue
            try:
                self.import_field(field, instance, row, **kwargs)
            except ValidationError as exc:
                errors[self._error_key(field)] = exc
            except Exception as exc:  # every failure becomes a row error, never a crash
                errors[self._error_key(field)] = ValidationError(describe_exception(exc), code="invalid")
        if errors:
            raise ValidationError(errors)

    def validate_instance(
        self, instance: Model, import_validation_errors: Any = None, validate_unique: bool = True
    ) -> None:
        """The model's field validation, without a query per check constraint and relation.

        `full_clean` checks each check constraint and each foreign key with a query of its
        own: 13 extra queries per track. Relations here are always objects just looked up,
        and the check constraints are enforced by the database when the row is saved (a
        violation becomes a row problem with the constraint's plain message).
        """
        errors = dict(import_validation_errors or {})
        relations = [f for f in instance._meta.concrete_fields if f.is_relation]
        for relation in relations:
            if (
                relation.name not in errors
                and not relation.null
                and getattr(instance, relation.attname) is None
            ):
                errors[relation.name] = ValidationError("this value is required", code="required")
        try:
            instance.full_clean(
                exclude=[*errors, *(relation.name for relation in relations)],
                validate_unique=validate_unique,
                validate_constraints=False,
            )
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        if errors:
            raise ValidationError(errors)

    def skip_row(
        self, instance: Model, original: Any, row: dict, import_validation_errors: Any = None
    ) -> bool:
        if import_validation_errors or self._snapshot is None:
            return False
        return self._values(instance) == self._snapshot and not self.related_changed(instance, row)

    def related_changed(self, instance: Model, row: dict) -> bool:
        """Whether the row changes relations that `_values` does not see (many-to-many)."""
        return False

    def after_import_row(self, row: dict, row_result: Any, **kwargs: Any) -> None:
        if len(self.preview) < self.preview_limit and row_result.import_type in ("new", "update", "skip"):
            shown = [_text(row.get(name)) for name in self.preview_columns(row)]
            self.preview.append((row.get(LINE), row_result.import_type, shown))

    def preview_columns(self, row: dict) -> list[str]:
        return [name for name in row if name != LINE]

    def after_import(self, dataset: Any, result: Any, **kwargs: Any) -> None:
        # ModelResource resets the table's id sequence to MAX(id) after creating rows.
        # Imports never set ids, and on a live PostgreSQL database that reset can hand
        # out an id another transaction already holds; so it is not done.
        return None

    def reset_caches(self) -> None:
        """Forget looked-up objects: the chunk that found or created them was undone."""
        for field in self.fields.values():
            if isinstance(field.widget, LookupWidget):
                field.widget._cache.clear()

    # --- export --------------------------------------------------------------------

    @classmethod
    def prepare_export_queryset(cls, queryset: QuerySet) -> QuerySet:
        if cls.export_select_related:
            queryset = queryset.select_related(*cls.export_select_related)
        if cls.export_prefetch_related:
            queryset = queryset.prefetch_related(*cls.export_prefetch_related)
        return queryset

    # --- helpers -------------------------------------------------------------------

    def _error_key(self, field: Field) -> str:
        attribute = (field.attribute or field.column_name).split("__")[0]
        return attribute[:-3] if attribute.endswith("_id") else attribute

    @staticmethod
    def _values(instance: Model) -> dict[str, Any]:
        return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}
