"""CSS selectors of page sources, checked when the configuration is read (soupsieve lives here).

soupsieve is the selector engine beautifulsoup4 uses, so a selector it compiles is one that
``select`` can run; checking at load time turns a typo into a configuration error with its
key path instead of a page source that fails on every poll.

soupsieve is imported by the first check, not with this module: the configuration imports
this module, and a configuration without page sources (and a command that never parses a
page) need not pay for soupsieve (about 10 MB and 0.1 s of start-up).
"""

from __future__ import annotations


def check_selector(css: str) -> str:
    """Return ``css`` unchanged, or raise ``ValueError`` saying why it does not parse."""
    if not css.strip():
        raise ValueError("expected a CSS selector, got an empty string")
    import soupsieve

    try:
        soupsieve.compile(css)
    except soupsieve.SelectorSyntaxError as exc:
        reason = str(exc).splitlines()[0]
        raise ValueError(f"{css!r} is not a valid CSS selector: {reason}") from None
    except Exception as exc:  # soupsieve's own limits (e.g. nesting) are the selector's problem too
        raise ValueError(f"{css!r} is not a usable CSS selector: {exc}") from None
    return css
