"""Clinical text analysis: sections, target concepts and their assertions (ConText), radiology findings.

Modules, each standing on the ones before it: :mod:`~nlp.clinical.sections` (the one section finder),
:mod:`~nlp.clinical.lexicon` (packaged term and rule files), :mod:`~nlp.clinical.concepts` (concept
matching), :mod:`~nlp.clinical.context` (ConText assertions), :mod:`~nlp.clinical.analyze` (all of it over
documents). Importing this package loads nothing heavy.
"""
