"""Cron expressions for schedules, checked field by field the way beat will read them."""

from celery.schedules import crontab
from django.core.exceptions import ValidationError

FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")


def parse_cron(expression: str) -> dict[str, str]:
    """The five fields of a cron expression; ValueError names the field that is wrong."""
    values = expression.split()
    if len(values) != len(FIELDS):
        raise ValueError(
            f"cron needs 5 fields (minute hour day-of-month month day-of-week), "
            f"got {len(values)}: {expression!r}"
        )
    fields = dict(zip(FIELDS, values, strict=True))
    for name, value in fields.items():
        try:
            crontab(**{name: value})
        except (ValueError, TypeError, IndexError) as error:
            raise ValueError(f"cron field {name.replace('_', ' ')} {value!r}: {error}") from error
    return fields


def validate_cron(expression: str) -> None:
    try:
        parse_cron(expression)
    except ValueError as error:
        raise ValidationError(str(error)) from error
