"""The Flask API service (a later issue). The library lives in `nlp/`; nothing here yet."""
