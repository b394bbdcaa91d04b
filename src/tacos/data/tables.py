"""Strict reading of the datasets' CSV/TSV files: every value as text, rows numbered as in the file.

Readers convert values themselves so that each bad value can be reported with its row. Row
numbers count the header as row 1, as a spreadsheet or ``sed -n`` shows them.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pandas as pd

from tacos.data.report import DataFormatError

FIRST_DATA_ROW = 2  # the header is row 1


def read_table(
    path: str | os.PathLike,
    columns: Sequence[str],
    *,
    sep: str = ",",
    encoding: str = "utf-8",
    header: bool = True,
    aliases: Mapping[str, str] | None = None,
    fix_missing: str = "check the path in the config or re-run the fetch rule",
) -> pd.DataFrame:
    """Read a delimited text file whose ``columns`` must all be present (extra ones are kept).

    ``aliases`` maps older column names to the current ones (e.g. ``caption`` -> ``text``).
    Without a header the file must have exactly ``len(columns)`` columns.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "file not found", fix_missing)
    text = _decode(path, encoding)
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=sep,
            dtype=str,
            keep_default_na=False,
            header=0 if header else None,
            quoting=3 if sep == "\t" else 0,  # TSVs are unquoted; CSVs use standard quoting
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise DataFormatError(
            path, f"cannot be parsed as {_describe(sep)} ({error})", "check the file is complete"
        ) from error
    if not header:
        if frame.shape[1] != len(columns):
            raise DataFormatError(
                path,
                f"expected {len(columns)} {_describe(sep)} columns, found {frame.shape[1]}",
                f"the file must have the columns {list(columns)} and no header",
            )
        frame.columns = list(columns)
        return frame
    frame.columns = [str(name).strip() for name in frame.columns]
    frame = frame.rename(columns=dict(aliases or {}))
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise DataFormatError(
            path,
            f"missing column(s) {missing}; found {list(frame.columns)}",
            f"the header must name the columns {list(columns)} ({_describe(sep)})",
            row=1,
        )
    return frame


def _decode(path: Path, encoding: str) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as error:
        row = raw.count(b"\n", 0, error.start) + 1
        raise DataFormatError(
            path,
            f"byte 0x{raw[error.start]:02x} is not valid {encoding}",
            f"re-save the file as {encoding}, or set the encoding this file was written in "
            "(Clotho's metadata files are ISO-8859-1)",
            row=row,
        ) from error


def _describe(sep: str) -> str:
    return "tab-separated" if sep == "\t" else "comma-separated"


def numbered_rows(
    frame: pd.DataFrame, first_row: int = FIRST_DATA_ROW
) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (file row number, row as a dict) in file order; headerless files start at 1."""
    for index, record in enumerate(frame.to_dict("records")):
        yield index + first_row, record


def parse_seconds(value: str) -> float | None:
    """A time in seconds, or None for empty/NaN/non-numeric text."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(seconds) or math.isinf(seconds) else seconds
