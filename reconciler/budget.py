"""The deletion budget's default: how much of what a scope manages one plan may delete or
replace without ``--force``. A module of its own, free of imports, so the command line can
show the default in ``--help`` without loading the planner (and pydantic with it)."""

from __future__ import annotations

DEFAULT_MAX_DELETE_PERCENT = 30.0
