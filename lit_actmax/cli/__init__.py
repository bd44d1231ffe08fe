"""The ``lit-actmax`` command (``main``: light; Lightning loads only for ``fit``/``atlas``), ``ActMaxCLI`` and its
config-error parser, and the ``atlas`` command."""
