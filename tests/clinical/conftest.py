"""One clinical analyzer for the whole folder: building it loads medspaCy and the lexicon (seconds)."""

import pytest


@pytest.fixture(scope="session")
def analyzer():
    from nlp.clinical.analyze import ClinicalAnalyzer

    return ClinicalAnalyzer()


@pytest.fixture(scope="session")
def analyze_one(analyzer):
    def run(text: str, terms=None):
        return analyzer.analyze([text], terms=[terms] if terms else None)[0]
    return run
