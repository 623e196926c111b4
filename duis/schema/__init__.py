"""Step 1 of the pipeline: validate DUIS and MMC XML against the schema.

``load_schema()`` gives the bundled schema (or the official one from a
directory); ``validate()`` gives a :class:`ValidationReport` for a file,
stream or bytes; ``ensure_valid()`` raises on an invalid tree.
"""

from .loader import BUNDLED, SCHEMA_DIR_ENV, SchemaSet, bundled_dir, load_schema
from .report import (
                     DEFAULT_REPORT_LIMITS,
                     EXIT_CODES,
                     INVALID,
                     NOT_COVERED,
                     UNUSABLE,
                     VALID,
                     ReportLimits,
                     SchemaIssue,
                     ValidationReport,
)
from .validate import check_tree, ensure_valid, validate

__all__ = ["BUNDLED", "SCHEMA_DIR_ENV", "SchemaSet", "bundled_dir", "load_schema",
           "EXIT_CODES", "INVALID", "NOT_COVERED", "UNUSABLE", "VALID", "SchemaIssue",
           "ValidationReport", "check_tree", "ensure_valid", "validate",
           "DEFAULT_REPORT_LIMITS", "ReportLimits"]
