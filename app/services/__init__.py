"""Use cases: the store and the libraries composed into what the service does.

No FastAPI here: the CLI, the API and the notebooks call the same functions.
"""
