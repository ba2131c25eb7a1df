"""Term matching shared by the simulated model and the simulated judge.

The simulated judge decides whether an output meets a rubric criterion by
looking for the criterion's content terms in the output. It is crude on
purpose: it is deterministic, needs no network, and really reads the output,
so demo grades move with what a simulated model actually wrote.
"""

import re
from functools import lru_cache

# Words that carry no evidence: English function words plus the verbs and
# hedges rubric writers use to frame a criterion ("Correctly identifies ...").
STOPWORDS = frozenset(
    """
    a about above after again against all also an and any are as at be because been
    before being below between both but by can could did do does doing down during each
    either few for from further had has have having he her here hers him his how i if in
    into is it its itself just least less may me might more most must my no nor not now
    of off on once only or other our out over own per same she should so some such than
    that the their them then there these they this those through to too under until up
    upon us very was we were what when where which while who whom why will with within
    without would you your response answer output model deliverable candidate correctly
    clearly accurately explicitly appropriately properly specifically briefly identifies
    identify identified states state stated mentions mention mentioned includes include
    included including notes note noted explains explain explained provides provide
    provided lists list listed gives give given uses use used describes describe
    described recommends recommend recommended suggests suggest suggested specifies
    specify specified presents present presented addresses address addressed gets get
    makes make made takes take calculates calculate calculated computes compute computed
    reports report reported shows show shown contains contain contained offers offer
    offered treats treat treated puts put sets set cites cite cited flags flag flagged
    """.split()  # noqa: SIM905
)

_TOKEN = re.compile(r"[a-z0-9]+(?:[.,'/:-][a-z0-9]+)*")
_SUFFIXES = ("ations", "ation", "ments", "ment", "ings", "ing", "ies", "ied", "es", "ed", "ly", "s")


@lru_cache(maxsize=65536)
def normalise_token(token: str) -> str:
    """Fold a token to a crude stem so that 'reconciled' meets 'reconciliation'."""
    token = token.strip(".,'/:-")
    if re.fullmatch(r"[0-9][0-9,]*(?:\.[0-9]+)?", token):
        # "12,500.00" and "12500" are the same figure.
        number = token.replace(",", "")
        return number.rstrip("0").rstrip(".") if "." in number else number
    if len(token) > 5:
        for suffix in _SUFFIXES:
            if token.endswith(suffix) and len(token) - len(suffix) >= 4:
                return token[: -len(suffix)]
    return token


@lru_cache(maxsize=4096)
def terms(text: str) -> frozenset[str]:
    """The content terms of a text: lower-cased, stemmed, stopwords removed. Cached: a judge
    reads the same output once per criterion."""
    found = set()
    for raw in _TOKEN.findall(text.lower()):
        if raw in STOPWORDS:
            continue
        token = normalise_token(raw)
        if token and token not in STOPWORDS and (len(token) > 1 or token.isdigit()):
            found.add(token)
    return frozenset(found)


def coverage(criterion: str, output: str) -> float:
    """Share of the criterion's content terms that appear in the output (0 when it has none)."""
    wanted = terms(criterion)
    if not wanted:
        return 0.0
    return len(wanted & terms(output)) / len(wanted)


# A criterion counts as met (or, for a negative criterion, the undesirable
# behaviour as present) when this share of its content terms is in the output.
MATCH_THRESHOLD = 0.6


def criterion_matches(criterion: str, output: str) -> bool:
    return coverage(criterion, output) >= MATCH_THRESHOLD
