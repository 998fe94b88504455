"""The experiment runner: the main job (``citybrain run``) and the closed loop.

A shell (it may import ``simulation``): it wires the twin, the estimator, the timing engine
and the reports together and owns the job's files and progress display.
"""

from __future__ import annotations

from .job import DEFAULT_STRATEGIES, JobResult, Progress, run_job

__all__ = ["DEFAULT_STRATEGIES", "JobResult", "Progress", "run_job"]
