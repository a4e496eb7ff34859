"""Validation of records against their schema: ``checks`` (shared), ``detailed``, ``fast``."""

from tda.domain.validation.checks import EMAIL_RE, META_PREFIX, PHONE_RE, is_phone, parse_temporal
from tda.domain.validation.detailed import (
    ValidationIssue,
    ValidationReport,
    compile_validator,
    require_valid,
    validate_records,
    validate_value,
)

__all__ = [
    "EMAIL_RE",
    "META_PREFIX",
    "PHONE_RE",
    "ValidationIssue",
    "ValidationReport",
    "compile_validator",
    "is_phone",
    "parse_temporal",
    "require_valid",
    "validate_records",
    "validate_value",
]
