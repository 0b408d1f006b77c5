"""The contract's languages (version 3, "Languages"): what a doctor speaks, and what a patient's SMS are written in."""

from __future__ import annotations

from enum import StrEnum


class Language(StrEnum):
    EN = "en"  # English
    HI = "hi"  # Hindi
    TA = "ta"  # Tamil
