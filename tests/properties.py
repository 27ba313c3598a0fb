"""How many examples a property test tries: fewer under the mutation check's profile.

The mutation check (.ci/mutation.py) runs the unit tests once per mutant; there the
properties try a fixed, smaller set of examples so the whole check fits in CI.
"""

from __future__ import annotations

from hypothesis import settings

MUTATION_EXAMPLES = 40


def examples(wanted: int) -> int:
    """``wanted`` examples, or at most MUTATION_EXAMPLES under the ``mutation`` profile."""
    if settings.get_current_profile_name() == "mutation":
        return min(wanted, MUTATION_EXAMPLES)
    return wanted
