"""Import problems in plain language: a line, a column and a reason a person can act on.

django-import-export reports failures as exception objects; shown as they are, staff
read `decimal.ConversionSyntax` or `Track matching query does not exist`. Everything
that reaches a person goes through `describe_exception` or `describe_validation_error`
first, and the fallback never shows a class name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import InvalidOperation

from django.core.exceptions import NON_FIELD_ERRORS, ObjectDoesNotExist, ValidationError
from django.db import DataError, IntegrityError

# Check constraints of the imported models, as a person would state the rule.
CONSTRAINT_MESSAGES = {
    "track_duration_positive": "the duration must be more than 0",
    "track_popularity_0_100": "popularity must be between 0 and 100",
    "track_key_pitch_class": "the key must be a pitch class from 0 to 11, or -1 when unknown",
    "track_mode_minor_major": "the mode must be 0 (minor) or 1 (major)",
    "track_tempo_not_negative": "the tempo cannot be negative",
    "episode_number_unique_per_podcast": "this podcast already has an episode with this number",
    "episode_number_from_one": "episode numbers start at 1",
    "episode_duration_positive": "the duration must be more than 0",
    "plan_price_matches_tier": "a free plan costs 0 and every other plan costs more than 0",
    "subscription_price_not_negative": "the price cannot be negative",
    "subscription_ends_after_start": "the end must be after the start",
    "subscription_trial_ends_after_start": "the trial must end after the start",
    "subscription_one_open_per_listener": "this listener already has an open subscription",
    "payment_amount_positive": "the amount must be more than 0",
    "payment_period_ends_after_start": "the period must end after it starts",
    "payment_refund_date_iff_refunded": (
        "a refunded payment needs a refund date on or after the payment, and only refunded payments have one"
    ),
    "listener_birth_year_plausible": "the birth year must be between 1900 and 2100",
}
for _feature in (
    "danceability",
    "energy",
    "valence",
    "acousticness",
    "speechiness",
    "instrumentalness",
    "liveness",
):
    CONSTRAINT_MESSAGES[f"track_{_feature}_0_1"] = f"{_feature} must be between 0 and 1"

# The field each constraint is about, so a row the database refuses still names its column.
CONSTRAINT_FIELDS = {
    "track_duration_positive": "duration_ms",
    "track_popularity_0_100": "popularity",
    "track_key_pitch_class": "key",
    "track_mode_minor_major": "mode",
    "track_tempo_not_negative": "tempo",
    "episode_number_unique_per_podcast": "number",
    "episode_number_from_one": "number",
    "episode_duration_positive": "duration_ms",
    "plan_price_matches_tier": "price",
    "subscription_price_not_negative": "price",
    "subscription_ends_after_start": "ended_at",
    "subscription_trial_ends_after_start": "trial_ends_at",
    "subscription_one_open_per_listener": "ended_at",
    "payment_amount_positive": "amount",
    "payment_period_ends_after_start": "period_end",
    "payment_refund_date_iff_refunded": "refunded_at",
    "listener_birth_year_plausible": "birth_year",
}
_CONSTRAINT_RE = re.compile(r"Constraint [“\"](?P<name>[^”\"]+)[”\"] is violated")
_GENERIC = "this row could not be saved; check its values against the column descriptions"


@dataclass(frozen=True)
class Problem:
    """One reason an import cannot go ahead. `line` and `column` are None for the file."""

    message: str
    line: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column:
            where.append(f"column {self.column!r}")
        return f"{', '.join(where).capitalize()}: {self.message}" if where else self.message


def describe_exception(exc: BaseException) -> str:
    """A plain-language reason for an exception raised while importing a row."""
    if isinstance(exc, ValidationError):
        return "; ".join(_plain(message) for message in exc.messages)
    if isinstance(exc, InvalidOperation):
        return "this is not a number"
    if isinstance(exc, ObjectDoesNotExist):
        return "refers to something that does not exist"
    if isinstance(exc, IntegrityError):
        return _integrity_message(str(exc))
    if isinstance(exc, DataError):
        return "a value is too long or out of range for its column"
    if isinstance(exc, ValueError) and str(exc) and not _looks_technical(str(exc)):
        return str(exc)
    return _GENERIC


_UNIQUE_COLUMN_RES = (
    re.compile(r"UNIQUE constraint failed: \w+\.(\w+)"),  # SQLite
    re.compile(r"Key \((\w+)\)=\("),  # PostgreSQL's DETAIL line
)


def constraint_field(exc: BaseException) -> str | None:
    """The model field a database constraint error is about, when the message names it."""
    if isinstance(exc, IntegrityError):
        text = str(exc)
        for name, field_name in sorted(CONSTRAINT_FIELDS.items(), key=lambda item: -len(item[0])):
            if name in text:
                return field_name
        for pattern in _UNIQUE_COLUMN_RES:
            match = pattern.search(text)
            if match:
                column = match[1]
                return column[:-3] if column.endswith("_id") else column
    return None


def describe_validation_error(error: ValidationError, *, column_of) -> list[tuple[str | None, str]]:
    """(column, reason) pairs of a ValidationError; `column_of` maps error keys to columns."""
    if not hasattr(error, "error_dict"):
        return [(None, _plain(message)) for message in error.messages]
    pairs = []
    for key, errors in error.error_dict.items():
        column = None if key == NON_FIELD_ERRORS else column_of(key)
        for item in errors:
            for message in ValidationError(item).messages:
                pairs.append((column, _plain(message)))
    return pairs


def _plain(message: str) -> str:
    match = _CONSTRAINT_RE.search(message)
    if match:
        return CONSTRAINT_MESSAGES.get(match["name"], "the row breaks a rule of the database")
    message = message.strip()
    if message.endswith("."):
        message = message[:-1]
    return message[:1].lower() + message[1:] if message[:2] != message[:2].upper() else message


def _integrity_message(text: str) -> str:
    for name, message in sorted(CONSTRAINT_MESSAGES.items(), key=lambda item: -len(item[0])):
        if name in text:
            return message
    lowered = text.lower()
    if "unique" in lowered or "duplicate" in lowered:
        return "another row already uses this identifier"
    if "foreign key" in lowered:
        return "refers to something that does not exist"
    if "not null" in lowered or "null value" in lowered:
        return "a required value is missing"
    return _GENERIC


def _looks_technical(text: str) -> bool:
    # Messages from Python itself ("invalid literal for int() with base 10: 'x'") or
    # naming classes are for developers, not for the person importing a file.
    # Quoted values are the file's own data ('12.3.4'), never a sign of a technical message.
    unquoted = re.sub(r"'[^']*'|\"[^\"]*\"", "", text)
    return bool(re.search(r"\w+\(\)|<class |Error\b|Exception\b|\w+\.\w+\.\w+", unquoted))
