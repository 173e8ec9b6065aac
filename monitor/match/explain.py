"""Writing out why an item matched or did not (``monitor explain``), for editors."""

from __future__ import annotations

from monitor.match.engine import PASSING_MENTION, Explanation, Matcher


def render_explanation(explanation: Explanation, matcher: Matcher) -> str:
    result = explanation.result
    threshold = matcher.profile.threshold
    verdict = "ABOUT THE DIALOGUE" if result.relevant else "not about the dialogue"
    lines = [f"decision: {verdict} (score {result.score:g}, threshold {threshold:g}, profile {matcher.version})"]
    if result.rule:
        lines.append(f"rule:     {result.rule}")
    if result.meeting_level:
        lines.append(f"meeting:  {matcher.label(result.meeting_level)}")
    if result.topics:
        lines.append("topics:   " + ", ".join(matcher.label(t) for t in result.topics))
    if result.actors:
        lines.append("actors:   " + ", ".join(matcher.label(a) for a in result.actors))
    text = explanation.text
    if explanation.evidence:
        lines.append("")
        lines.append("evidence (points, what, where):")
        for e in sorted(explanation.evidence, key=lambda e: (-e.points, e.sentence)):
            lines.append(
                f"  +{e.points:<4g} {e.reason}: “{text[e.finding.start : e.finding.end]}” (sentence {e.sentence + 1})"
            )
    if explanation.ignored:
        lines.append("")
        lines.append("found but not counted:")
        for i in explanation.ignored:
            lines.append(f"  “{text[i.finding.start : i.finding.end]}” (sentence {i.sentence + 1}): {i.reason}")
    context = [f for f in explanation.found if f.entry.kind in ("side", "eu", "other", "field", "sense")]
    if context:
        lines.append("")
        lines.append(
            "context words: "
            + ", ".join(f"{text[f.start : f.end]} ({_kind(f.entry.kind, f.entry.group)})" for f in context)
        )
    if not explanation.found:
        lines.append("")
        lines.append("no term of the profile occurs in the title or text.")
    elif not result.relevant:
        lines.append("")
        lines.append(_why_not(explanation, threshold))
    if result.marked_snippets:
        lines.append("")
        lines.append("snippets:")
        lines.extend(f"  {s}" for s in result.marked_snippets)
    return "\n".join(lines)


def _why_not(explanation: Explanation, threshold: float) -> str:
    score = explanation.result.score
    if any(i.reason == PASSING_MENTION for i in explanation.ignored):
        return f"not relevant: the evidence adds up to {score:g}, but it is {PASSING_MENTION} (see above)."
    if score >= threshold:
        return (
            f"not relevant: the evidence adds up to {score:g}, but none of it ties the item to the dialogue: an item "
            "needs e.g. a dialogue word next to a party, talks naming both parties, a topic of the dialogue, or an "
            "EU envoy; the rest only supports such a mention nearby."
        )
    return (
        f"not relevant: the evidence adds up to {score:g}, below the threshold {threshold:g}. An item needs "
        "e.g. a dialogue word next to a party, talks naming both parties, a topic of the dialogue, or an EU envoy."
    )


def _kind(kind: str, group: str) -> str:
    return {
        "side": f"party: {group}",
        "eu": "EU",
        "other": "another dialogue or negotiation",
        "field": "sport or another field",
        "sense": "another sense of 'dialogue'",
    }.get(kind, kind)
