"""Moved to `cardiolab.targets` (inference needs the ED/ES frames too); the names stay importable here."""
from cardiolab.targets import *  # noqa: F401,F403
from cardiolab.targets import _check_events, _first_drop_mm, _lv_cavity_counts  # noqa: F401
