"""Cognito's Define auth challenge trigger of sign-in by phone: what comes next in a sign-in (`domain.otp.define`).

One CUSTOM_CHALLENGE, asked again after a wrong answer while the code lives, at most 5 answers; tokens once an
answer was right; the sign-in fails otherwise (an unknown user, a challenge not ours, a 5th wrong answer, the
code's life over). Pure: no I/O, no secret.
"""

from __future__ import annotations

import time

from opd.domain.otp import define
from opd.triggers import make_trigger

lambda_handler = make_trigger(
    "DefineAuthChallenge_Authentication", lambda event: define(event["request"], now=time.time())
)
