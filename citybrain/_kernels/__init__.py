"""numba kernels: arrays and scalars in, arrays out.

One module per topic (``estimation``, ``timing``, ``control``). Kernels are named
``_verb_noun``, take options from :mod:`citybrain.config` (``fastmath=config.FASTMATH_FLAGS``,
``cache=config.NUMBA_CACHE``), and never see a graph, a table, a value object or ``None``. Each has
a public wrapper in the engine and a pure-numpy reference in ``tests/naive/``.
"""
