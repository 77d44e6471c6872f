"""What ingestion reads and which rules decide what happens to a column, a file or a run."""
from __future__ import annotations

SUPPORTED_SUFFIXES = (".csv", ".txt", ".xlsx", ".xlsm", ".sav")
#: The longest plausible interview, in seconds (rule ``out_of_range`` above it).
MAX_DURATION_SEC = 86_400
#: Problems that concern a whole column: in lenient mode the column is left out, the rows kept.
COLUMN_RULES = {"unknown_header", "personal_data"}
#: Problems that make a whole file unusable: in lenient mode all its rows are rejected.
FILE_RULES = {"empty_file", "encoding", "unreadable", "unsupported_format", "missing_column", "duplicate_column"}
