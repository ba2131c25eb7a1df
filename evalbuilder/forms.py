"""Form fields shared by every app."""

from django import forms
from django.core.exceptions import ValidationError

# The largest id a database integer column holds: SQLite cannot even compare a larger one.
LARGEST_ID = 2**63 - 1


class RecordsField(forms.ModelMultipleChoiceField):
    """Records chosen by id. An id too large for the database names no record, so it is
    refused like any other unknown id instead of failing the query."""

    def _check_values(self, value):
        for pk in value:
            text = str(pk).strip()
            if text.lstrip("+-").isdigit() and abs(int(text)) > LARGEST_ID:
                raise ValidationError(
                    self.error_messages["invalid_pk_value"],
                    code="invalid_pk_value",
                    params={"pk": pk},
                )
        return super()._check_values(value)
