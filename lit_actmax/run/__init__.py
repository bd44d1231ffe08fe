"""A run's output on disk: the run folder's files and schema, the writer, and the state a checkpoint carries.

Plain Python and torch; nothing here imports Lightning.
"""
