"""What on-call does next, one line per cause: the same advice as the alert rules' runbook annotation."""

from __future__ import annotations

from streams.engine import AnomalyEvent, Cause, Kind, Scope

_SERIES = {
    Cause.PURGE: "The platform removed fake or inactive accounts: nothing to fix on our side; check its "
                 "announcements and re-baseline the account's targets.",
    Cause.REMOVAL: "The count fell to zero: check in the app whether the post or account was deleted, made "
                   "private or taken down, and ask the account owner.",
    Cause.ATTRITION: "A slow, steady loss: look for unfollows after recent content, a shadow-ban or bot churn, "
                     "and compare with the account's reach.",
    Cause.OUTAGE: "The loss came back: a platform outage or display bug; check the platform's status page "
                  "before contacting anyone.",
    Cause.REACH: "Growth collapsed without a loss: compare the account's reach with last week's and look for "
                 "an algorithm change.",
}
_GLITCH = "Nothing to do: the count came back on its own; it is shown on dashboards and never pages."
_PLATFORM = {
    Cause.PURGE: "A platform-wide purge of fake accounts: tell account owners their counts are now cleaner, "
                 "not lower.",
}
_PLATFORM_DEFAULT = ("Likely a platform outage or display bug: check the platform's status page; the per-series "
                     "pages of this platform and metric belong to this one incident.")
_DEFAULT = "Open the series dashboard and compare the drop with the account's recent activity."


def runbook_line(event: AnomalyEvent) -> str:
    """The next step for the incident this event names.

    >>> from streams.engine import AnomalyEvent, Scope
    >>> e = AnomalyEvent(Kind.GLITCH, Scope.SERIES, "x", "a", "likes", None, 0, 1, 10, 5, Cause.GLITCH, "")
    >>> runbook_line(e).startswith("Nothing to do")
    True
    """
    if event.scope is Scope.PLATFORM:
        return _GLITCH if event.kind is Kind.GLITCH else _PLATFORM.get(event.cause, _PLATFORM_DEFAULT)
    if event.kind is Kind.GLITCH:
        return _GLITCH
    return _SERIES.get(event.cause, _DEFAULT)
