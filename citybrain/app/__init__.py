"""The shells: the only code that may import the twin (``simulation``).

``cli`` is the ``citybrain`` command, ``runner`` the main job and the closed loop, ``report`` the
reports they write, ``rl`` the Gymnasium / PettingZoo environments over the twin. Each wires the
engine and the twin together and owns the I/O policy (paths, progress, exit codes); the logic
stays in the engine.
"""
