"""``python -m citybrain.app.cli``: the ``citybrain`` command."""

from . import main

main()
