"""De-identification of clinical notes (HIPAA Safe Harbor): find identifiers, redact them or put fakes in."""

from nlp.privacy.deidentify import OPERATORS, Deidentified, Deidentifier, Phi
from nlp.privacy.recognizers import PHI_TYPES

__all__ = ["OPERATORS", "PHI_TYPES", "Deidentified", "Deidentifier", "Phi"]
