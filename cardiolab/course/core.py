"""The machinery every exercise check shares: a registry, `check`, and helpful failures.

An exercise is a small function ``check_<name>(answer, **inputs)`` registered under an id
such as ``"3.1"`` (lesson 3, exercise 1). It computes the expected answer *from the
inputs it is given*, with the library or analytically, at check time (never a number
stored from an earlier run), compares, and

* returns a short sentence on success, which `check` prints after a tick;
* raises `Wrong` with a hint on failure. Before the generic "this is not it", each check
  tries the mistakes learners really make (a missing /1000, a fraction for a percentage,
  axes in the wrong order, 1-based frames ...) and names the one that fits.

`check` turns `Wrong` into `ExerciseFailed` (an AssertionError, so a notebook cell stops
with one readable line) and treats ``answer is None`` as "not answered yet": it prints a
reminder, so a learner can run a lesson top to bottom before trying the exercises. It
returns nothing (a notebook would otherwise print ``True`` under the message); the
printed line is the feedback. With the environment variable ``CARDIOLAB_COURSE_STRICT=1`` (set by the
test that executes the lessons) an unanswered exercise fails instead.
"""
from __future__ import annotations

import functools
import inspect
import os
from dataclasses import dataclass
from collections.abc import Callable

import numpy as np

PASS_MARK = "\u2714"  # the tick printed before a passed exercise
STRICT_ENV = "CARDIOLAB_COURSE_STRICT"


class ExerciseFailed(AssertionError):
    """A wrong answer; the message says what is wrong."""


class Wrong(Exception):
    """Raised inside a check with the hint for the learner."""


class NotAnswered(Exception):
    """The answer (or what the learner's function returned) is still None."""


@dataclass(frozen=True)
class Exercise:
    id: str           # "3.1": lesson 3, exercise 1
    name: str         # "lv_volume": the check is also `check_lv_volume`
    title: str        # one line, shown in messages
    check: Callable   # the raw check: (answer, **inputs) -> success sentence, or raises Wrong

    @property
    def lesson(self) -> int:
        return int(self.id.split(".")[0])

    @property
    def inputs(self) -> list[str]:
        """Names of the inputs the check needs besides the answer."""
        return list(inspect.signature(self.check).parameters)[1:]


_EXERCISES: dict[str, Exercise] = {}


def exercise(exercise_id: str, name: str, title: str):
    """Register a check function; returns the public ``check_<name>(answer, **inputs)``."""
    def decorate(check_function):
        if exercise_id in _EXERCISES:
            raise ValueError(f"exercise {exercise_id} registered twice")
        registered = Exercise(exercise_id, name, title, check_function)
        _EXERCISES[exercise_id] = registered

        @functools.wraps(check_function)
        def public_check(answer, *args, **inputs) -> None:
            _run(registered, answer, *args, **inputs)

        public_check.exercise = registered
        return public_check

    return decorate


def exercises(lesson: int | None = None) -> list[Exercise]:
    """Every registered exercise (of one lesson), in order."""
    found = [e for e in _EXERCISES.values() if lesson is None or e.lesson == lesson]
    return sorted(found, key=lambda e: tuple(int(part) for part in e.id.split(".")))


def get_exercise(exercise_id: str) -> Exercise:
    exercise_id = str(exercise_id)
    if exercise_id not in _EXERCISES:
        known = ", ".join(e.id for e in exercises())
        raise KeyError(f"no exercise {exercise_id!r}; exercises are {known}")
    return _EXERCISES[exercise_id]


def check(exercise_id: str, answer, *args, **inputs) -> None:
    """Check ``answer`` to exercise ``exercise_id`` ("3.1"), given the exercise's inputs.

    Prints a pass message; raises `ExerciseFailed` with a hint on a wrong answer; prints
    a reminder while ``answer`` is None.
    """
    _run(get_exercise(exercise_id), answer, *args, **inputs)


def _strict() -> bool:
    return os.environ.get(STRICT_ENV, "") not in ("", "0")


def _run(registered: Exercise, answer, *args, **inputs) -> bool:
    """True: passed; False: not answered yet; raises `ExerciseFailed` on a wrong answer."""
    label = f"Exercise {registered.id} ({registered.title})"
    try:
        if answer is None:
            raise NotAnswered()
        success = registered.check(answer, *args, **inputs)
    except NotAnswered:
        message = f"{label}: not answered yet. Replace the `None` under `# YOUR CODE HERE` with your answer."
        if _strict():
            raise ExerciseFailed(message) from None
        print("\u2026 " + message)
        return False
    except Wrong as wrong:
        raise ExerciseFailed(f"{label}: {wrong}") from None
    print(f"{PASS_MARK} {label} passed. {success}".rstrip())
    return True


# --- helpers the checks share ------------------------------------------------------------
def call_learner(function, *args, what: str = "your function"):
    """Call a function the learner wrote; its errors become hints, None means unanswered."""
    if not callable(function):
        raise Wrong(f"expected a function (def ...), got {type(function).__name__}")
    try:
        result = function(*args)
    except Exception as error:  # the learner's code: any error is a hint, not a crash
        raise Wrong(f"{what} raised {type(error).__name__}: {error}") from None
    if result is None:
        raise NotAnswered()
    return result


def as_number(value, what: str = "the answer") -> float:
    """A finite float from a number, a 0-d array or a one-element tensor."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    if isinstance(value, (bool, np.bool_)):
        raise Wrong(f"{what} should be a number, got a bool ({value})")
    array = np.asarray(value)
    if array.dtype.kind not in "biuf" or array.size != 1:
        raise Wrong(f"{what} should be one number, got {type(value).__name__}"
                    + (f" of shape {array.shape}" if array.ndim else ""))
    number = float(array.reshape(()))
    if not np.isfinite(number):
        raise Wrong(f"{what} is {number}: check for a division by zero or an empty mask")
    return number


def as_array(value, what: str = "the answer") -> np.ndarray:
    """A numpy array from a numpy array, a torch tensor or a (nested) list."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value)
    except Exception:
        raise Wrong(f"{what} should be an array, got {type(value).__name__}") from None
    if array.dtype == object:
        raise Wrong(f"{what} should be a regular array of numbers, got {type(value).__name__}")
    return array


def as_pair(value, what: str = "the answer") -> tuple:
    """Two values from a tuple, list or array of length 2."""
    if isinstance(value, dict) or not hasattr(value, "__len__") or len(value) != 2:
        raise Wrong(f"{what} should be a pair (two values in a tuple), got {value!r}")
    return tuple(value)


def close(value, expected, rtol: float = 1e-4, atol: float = 1e-6) -> bool:
    return bool(np.allclose(value, expected, rtol=rtol, atol=atol))


def matches_one_of(value, mistakes, rtol: float = 1e-3, atol: float = 1e-6):
    """The hint of the first ``(wrong value, hint)`` the value equals, else None."""
    for wrong_value, hint in mistakes:
        if wrong_value is None:
            continue
        try:
            if np.shape(value) == np.shape(wrong_value) and close(value, wrong_value, rtol, atol):
                return hint
        except (TypeError, ValueError):
            continue
    return None


def how_far(value: float, expected: float) -> str:
    """"12 % too high" style, without giving the expected value away."""
    if expected == 0:
        return f"it should be 0, you have {value:.4g}"
    ratio = value / expected
    if ratio > 0 and (ratio > 3 or ratio < 1 / 3):
        return f"it is {ratio:.3g} times the right value"
    percent = 100 * (value - expected) / abs(expected)
    return f"it is {abs(percent):.2g} % too {'high' if percent > 0 else 'low'}"
