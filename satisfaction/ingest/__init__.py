"""Ingestion: reading, mapping and validating raw survey exports; writing the processed year.

:func:`load_survey` reads CSV (UTF-8, UTF-8 with BOM, GBK/GB18030), XLSX and SPSS ``.sav`` files,
maps their headers to the codebook's codes, recodes don't-know and missing codes to NaN, mirrors
reverse-coded items and checks every value. Each problem names the file, the row (as a spreadsheet
shows it: header = row 1; for ``.sav`` the case number), the column, the value and the rule.

Rules (the ``rule`` of each :class:`~satisfaction.errors.Problem`):

=====================  ==========================================================================
``empty_file``         the file has no bytes, or a header but no answer rows
``encoding``           the bytes are neither UTF-8 nor GBK/GB18030 nor UTF-16, or mix encodings (the
                       file, line and byte offset are named), or are Big5 (the fix is given)
``unreadable``         the file cannot be parsed in its format
``unsupported_format`` the file's suffix is not .csv, .txt, .xlsx, .xlsm or .sav, or belies its content
                       (a workbook named .csv, a text file named .xlsx)
``formula_without_value`` a workbook cell holds a formula whose value was never computed
``sheet_headers_differ`` a workbook sheet looks like answers but its header differs from the others'
``malformed_row``      a text row has more fields than the header (a stray delimiter): one rejected row
``missing_column``     a required column (id, city, demographics, index items) is absent
``duplicate_column``   two columns map to the same code
``unknown_header``     a header matches nothing in the codebook
``personal_data``      a column, or a value in a known column, is personal data by the codebook's
                       rules (:mod:`.privacy`: phone, e-mail, ID number by check digit, names)
``missing_value``      a required value (id, city, demographic) is empty
``non_numeric``        an answer that must be a number is not
``out_of_range``       an answer is not a point of the item's scale nor one of its special codes; a
                       duration is negative or longer than a day
``not_finite``         a duration is infinite or not a number
``unknown_city``       the city matches no city of the codebook
``unknown_category``   a demographic value is not one of its categories
``wrong_year``         the row's year differs from the year being ingested
``bad_date``           the interview date cannot be read
``duplicate_id``       a respondent id occurs more than once (within or across files)
=====================  ==========================================================================

Files that are not exports are listed in ``Survey.ignored`` by rule (``not_an_export_type``: a
suffix not read; ``not_an_export``: a .txt file without any header the codebook knows); workbook
sheets left out are listed per file (``notes_sheet``, ``empty_sheet``).

With ``strict=True`` any problem raises :class:`~satisfaction.errors.ValidationError` listing all
of them. With ``strict=False`` rows with problems are rejected (kept, with their reasons, in
``Survey.rejects``), files with file-level problems have all their rows rejected, and unknown or
personal-data columns are left out (and reported); a file that cannot be read at all stops the run
unless ``allow_unreadable=True``. Always ``rows in = rows kept + rows rejected + rows unreadable``.
"""
from __future__ import annotations

from .privacy import looks_personal_value, mask_personal
from .readers import RawTable, decode_bytes, read_raw, read_tables
from .rules import COLUMN_RULES, FILE_RULES, MAX_DURATION_SEC, SUPPORTED_SUFFIXES
from .storage import (atomic_write_bytes, ingest, iter_problem_lines, read_processed, replace_dir_atomically,
                      write_processed, xlsx_bytes)
from .swap import Publication, publishing
from .survey import Survey, load_survey
from .validate import map_columns, validate_table
from ..errors import Problem, ValidationError

__all__ = ["COLUMN_RULES", "FILE_RULES", "MAX_DURATION_SEC", "SUPPORTED_SUFFIXES", "Problem", "Publication", "RawTable", "Survey",
           "ValidationError", "atomic_write_bytes", "decode_bytes", "ingest", "iter_problem_lines", "load_survey",
           "looks_personal_value", "map_columns", "mask_personal", "publishing", "read_processed", "read_raw", "read_tables",
           "replace_dir_atomically", "validate_table", "write_processed", "xlsx_bytes"]
