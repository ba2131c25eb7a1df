"""Cells of CSV files that people open in spreadsheets."""

# A spreadsheet runs a cell that starts with one of these as a formula (a tab or a carriage
# return first is skipped over by some, so the formula after it still runs).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> str:
    """`value` as the text of a CSV cell that no spreadsheet runs as a formula: text typed by
    someone (a username tried at sign-in, expert-written criterion text, a record's name)
    that starts like a formula gets a leading apostrophe. None is an empty cell."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text
