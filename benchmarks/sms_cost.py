"""The SMS side of the cost model: each kind of SMS, in each language, with its status link, as SMS parts and dollars.

One sample text per message kind (`opd.messages.MESSAGES`, and the sign-in code's) and language (`opd.catalogs`),
filled as the notifier fills it and ended with the status link by the notifier's own `with_status_link`, with a
realistic link (a CloudFront URL, as the template's PUBLIC_URL defaults to, and a 16-character code) and doctor
name; a sign-in code has no link. Then the booking's first SMS in English with a long Latin name, and with a name
in Devanagari (the directory keeps names in any script, and one character outside GSM 03.38 makes the whole SMS
UCS-2). Each is counted by `opd.messages.size`, the function the notifier's spend cap counts parts with: GSM-7 160
septets in one part (an extension character counts 2), 153 a part once split; UCS-2 (Devanagari, Tamil) 70 / 67.
A message costs its parts x the price of a part: SmsPriceUsd's default in template.yaml, and the cost model's price
to India (benchmarks/cost.py, `Prices.sms`). Then the parts side by side, kind by language, and one SMS of each
language, whole, as the README shows them.

    .venv/bin/python benchmarks/sms_cost.py
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "allocator"), str(ROOT)]

from opd import catalogs  # noqa: E402
from opd.domain import CancelReason, EventType, Language  # noqa: E402
from opd.messages import DATE_FORMAT, MESSAGES, SIGN_IN_CODE, SmsSize, size, with_status_link  # noqa: E402

SAMPLE_URL = "https://d111111abcdef8.cloudfront.net"  # a CloudFront distribution's domain, as AWS's examples write it
SAMPLE_CODE = "q3Vw9Zb1Kx0Tt7Lm"  # 16 characters: the 96 random bits the service makes
DOCTOR = "Dr Asha Rao"
LONG_NAME = "Dr Meenakshi Sundaram"
DEVANAGARI = "डॉ. आशा राव"
FIELDS = {"date": "21/11", "start": "09:00", "token": 12, "time": "09:36", "minutes": 25}  # date: DATE_FORMAT
CODE_FIELDS = {"code": "123456", "minutes": 5}  # a sign-in code and its life
SIGN_IN_KIND = "sign-in code"
assert DATE_FORMAT == "%d/%m", "FIELDS' date is written as the notifier writes it"


@dataclass(frozen=True)
class Sample:
    kind: str  # the event type, a cancellation with its reason; or SIGN_IN_KIND
    language: str
    text: str
    size: SmsSize


def kind_of(key: EventType | tuple[EventType, CancelReason]) -> str:
    return f"{key[0].value} ({key[1].value})" if isinstance(key, tuple) else key.value


# Every kind of SMS, by its label: its catalog key, and whether it ends with a status link (a booking's SMS do).
KINDS: dict[str, tuple[str, bool]] = {kind_of(event): (key, True) for event, key in MESSAGES.items()} | {
    SIGN_IN_KIND: (SIGN_IN_CODE, False)
}


def render(kind: str, language: Language = Language.EN, doctor: str = DOCTOR) -> str:
    """The SMS of `kind` in `language`, as the notifier (or, for a code, the Create auth challenge trigger) sends it."""
    key, linked = KINDS[kind]
    if not linked:
        return catalogs.template(key, language).format(**CODE_FIELDS)
    return with_status_link(catalogs.template(key, language).format(doctor=doctor, **FIELDS), SAMPLE_CODE, SAMPLE_URL)


def sample(kind: str, language: Language = Language.EN, doctor: str = DOCTOR) -> Sample:
    text = render(kind, language, doctor)
    return Sample(kind, language.value, text, size(text))


def samples() -> list[Sample]:
    """Every kind in every language with the usual name; then the booking's first SMS in English with a long name
    and with a Devanagari one."""
    made = [sample(kind, language) for language in Language for kind in KINDS]
    created = kind_of(EventType.BOOKING_CREATED)
    made += [sample(created, Language.EN, name) for name in (LONG_NAME, DEVANAGARI)]
    return made


def booked_and_called_parts(language: Language = Language.EN) -> tuple[int, int]:
    """The parts of a booking's two usual SMS (booked; called in), with the usual name: the clinic day's."""
    booked = sample(kind_of(EventType.BOOKING_CREATED), language).size.parts
    return booked, sample(kind_of(EventType.BOOKING_CALLED), language).size.parts


def sms_price_default() -> float:
    """SmsPriceUsd's default in template.yaml: what the notifier's spend cap prices a part at unless it is set."""
    from devserver.template import load_template

    return float(load_template(ROOT / "template.yaml")["Parameters"]["SmsPriceUsd"]["Default"])


def table(prices: dict[str, float]) -> list[str]:
    """The samples as a Markdown table, one cost column per price (its label: USD a part)."""
    heads = " | ".join(f"cost at {label} (${usd:g} a part)" for label, usd in prices.items())
    lines = [
        f"Each SMS with its status link ({SAMPLE_URL}/status.html#<16-character code>; a sign-in code has none), "
        f"doctor {DOCTOR!r}:",
        "",
        f"| SMS | language | characters | encoding | units | parts | {heads} |",
        "|---|---|---|---|---|---|" + "---|" * len(prices),
    ]
    for made in samples():
        linked = KINDS[made.kind][1]
        other = LONG_NAME if LONG_NAME in made.text else DEVANAGARI
        name = "" if not linked or DOCTOR in made.text else f", doctor {other!r}"
        costs = " | ".join(f"${made.size.parts * usd:.4f}" for usd in prices.values())
        lines.append(
            f"| {made.kind}{name} | {made.language} | {len(made.text)} | {made.size.encoding} | {made.size.units} "
            f"| {made.size.parts} | {costs} |"
        )
    return lines


def languages_table(prices: dict[str, float], kind: str = kind_of(EventType.BOOKING_CREATED)) -> list[str]:
    """One SMS of each language, whole (the README's): its text, parts and cost."""
    heads = " | ".join(f"at {label} (${usd:g})" for label, usd in prices.items())
    lines = [
        f"One {kind} SMS in each language, doctor {DOCTOR!r}:",
        "",
        f"| language | SMS | characters | encoding | parts | {heads} |",
        "|---|---|---|---|---|" + "---|" * len(prices),
    ]
    for language in Language:
        made = sample(kind, language)
        costs = " | ".join(f"${made.size.parts * usd:.4f}" for usd in prices.values())
        lines.append(
            f"| {made.language} | {made.text} | {len(made.text)} | {made.size.encoding} | {made.size.parts} | {costs} |"
        )
    return lines


def parts_table() -> list[str]:
    """The parts of each kind in each language, side by side (the usual name)."""
    lines = [
        f"Parts of each SMS, doctor {DOCTOR!r}:",
        "",
        "| SMS | " + " | ".join(language.value for language in Language) + " |",
        "|---|" + "---|" * len(Language),
    ]
    for kind in KINDS:
        lines.append(
            f"| {kind} | " + " | ".join(str(sample(kind, language).size.parts) for language in Language) + " |"
        )
    return lines


def main() -> int:
    from benchmarks.cost import PRICES

    prices = {"SmsPriceUsd's default": sms_price_default(), "India (cost model)": PRICES.sms}
    print("\n".join([*table(prices), "", *parts_table(), "", *languages_table(prices)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
