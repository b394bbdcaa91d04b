"""The offline, deterministic caption cleaner: ``RuleBasedBackend``.

It fixes spelling against the lexicon (``tacos.captions.lexicon``), replaces transcribed speech
by a description, removes what cannot be heard (colours, places and people seen, brands) and
biased words (hedges, first person, opinions), and writes a weak caption by joining a file's
captions in order, with "while" where regions overlap and ", then" otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence

from tacos.captions.backends import (
    CHANGE_KINDS,
    CaptionBackend,
    CleanResult,
    SummaryResult,
    TimedCaption,
)
from tacos.captions.lexicon import (
    BRANDS,
    CLOTHES,
    COLOURS,
    HEDGE_WORDS,
    INTENSIFIERS,
    LEXICON,
    NOUN_FORMS,
    OPINION_ADVERBS,
    OPINION_CLAUSE_FILLER,
    OPINION_WORDS,
    PLACES_SEEN,
    SAY_VERBS,
    SILENT_ACTIONS,
    SPEECH_WORDS,
    TYPO_TABLE,
    VERB_FORMS,
    WEATHER_SEEN,
)


def _alternation(phrases: Sequence[str] | frozenset[str]) -> str:
    """A regex alternation of phrases, longest first, spaces matching any whitespace."""
    ordered = sorted(phrases, key=len, reverse=True)
    return "|".join(re.escape(phrase).replace(r"\ ", r"\s+") for phrase in ordered)


_I = re.IGNORECASE
WORD = re.compile(r"[A-Za-z]+(?:['-][A-Za-z]+)*")
QUOTE = r"\"[^\"]*\"|(?<![A-Za-z])'[^'\n]+'(?![A-Za-z])"
_QUOTE_RE = re.compile(QUOTE)
_NP = r"(?:(?:the|a|an|some|his|her|their|my|our|this|that)\s+)?(?:[a-z'-]+\s+){0,3}?[a-z'-]+"
_CLAUSE_END = r"(?=\s*[,.;:!?]|\s*$|\s+(?:while|then|and|as|before|after|when|but|with|followed)\b)"
_DET = r"(?:the|a|an|his|her|their|my|our|this|that)"

_QUOTED_SPEECH = re.compile(
    rf"(?P<lead>,\s*)?\b(?P<verb>{_alternation(SAY_VERBS)})\b\s*[:,]?\s*(?:{QUOTE})", _I
)
_REPORTED_SPEECH = re.compile(
    r"(?P<lead>,\s*)?\b(?P<verb>says|said|say|saying|tells|telling)\s+"
    r"(?!(?:something|nothing|anything|a\s+few\s+words|a\s+word|some\s+words|words|things|it|so"
    r"|[a-z]+ly)\b)"
    rf"[^,.;:!?\"]+?{_CLAUSE_END}",
    _I,
)
_VISUAL_PATTERNS = tuple(
    re.compile(pattern, _I)
    for pattern in (
        # a silent action seen beside the sound: "while a man in a yellow jacket stands there"
        rf",?\s*\b(?:while|as|and)\s+(?:(?!\b(?:while|then|as|and)\b)[^,.;:!?])*?"
        rf"\b(?:{_alternation(SILENT_ACTIONS)})\b[^,.;:!?]*?{_CLAUSE_END}",
        rf",?\s*\b(?:you|we|i)\s+(?:can\s+|could\s+)?see\b[^,.;:!?]*?{_CLAUSE_END}",
        r"\s*\b(?:(?:can|could)\s+be\s+seen|(?:is|are)\s+(?:visible|shown|pictured))\b",
        r"\s*\bon\s+(?:the\s+)?(?:screen|camera|video|film)\b",
        rf",?\s*\b(?:(?:who\s+is\s+)?wearing|dressed\s+in|in)\s+(?:{_DET}\s+)?"
        rf"(?:[a-z'-]+\s+){{0,2}}?(?:{_alternation(CLOTHES)})\b",
        r",?\s*\b(?:next\s+to|near|beside|behind|under|underneath|beneath|in\s+front\s+of"
        r"|on\s+top\s+of|across\s+from|opposite)\s+"
        r"(?!(?:the\s+|a\s+)?(?:microphone|mic|recorder)\b)"  # closeness to the mic is heard
        rf"{_NP}{_CLAUSE_END}",
        rf",?\s*\b(?:in|inside|at)\s+{_DET}\s+(?:[a-z'-]+\s+){{0,2}}?"
        rf"(?:{_alternation(PLACES_SEEN)})\b",
        rf",?\s*\bon\s+(?:a|an|this|that)\s+(?:{_alternation(WEATHER_SEEN)})\s+"
        r"(?:day|morning|afternoon|evening)\b",
        rf"\b(?:{_alternation(COLOURS)})(?:-colou?red)?\b(?!\s+noise)\s*",
    )
)
_BRAND = re.compile(rf"\b(?P<brand>{_alternation(BRANDS)})(?:'s)?\b(?P<after>\s+[A-Za-z]+)?", _I)

_LEADING_BIAS = re.compile(
    r"^\s*(?:"
    r"(?:i|we)\s+(?:think|believe|guess|suppose|feel)(?:\s+(?:that|like))?"
    r"|(?:i|we|you)\s+(?:can\s+|could\s+)?(?:hear|heard|her|listen\s+to|notice)"
    r"(?:\s+(?:that|what\s+sounds\s+like|something\s+like))?"
    r"|(?:it|this|that)\s+(?:seems|sounds|looks)(?:\s+(?:like|as\s+if|as\s+though|that|to\s+be))?"
    r"|(?:it|this|that)\s+(?:might|may|could|must)\s+be"
    r"|(?:it\s+is|it's)\s+(?:probably|possibly|maybe|likely)"
    r"|in\s+my\s+opinion|to\s+me|honestly|(?:i'm|i\s+am)\s+not\s+sure(?:\s+but)?"
    rf"|{_alternation(HEDGE_WORDS)}"
    r")\b\s*,?\s*",
    _I,
)
_INNER_BIAS = tuple(
    re.compile(pattern, _I)
    for pattern in (
        rf",?\s*\b(?:{_alternation(HEDGE_WORDS)}|(?:i|we)\s+(?:think|believe|guess|suppose))\b,?",
        r"\b(?:i|we|you)\s+(?:can\s+|could\s+)?(?:hear|heard)\s+(?:that\s+)?",
        r"\b(?:what|something\s+that)\s+(?:sounds|seems)\s+(?:like|to\s+be)\s+",
        r",?\s*\b(?:i|we)\s+(?:really\s+)?(?:like|love|hate|enjoy|dislike)\s+(?:it|this|that)"
        r"(?:\s+(?:sound|noise))?\b",
        r"\s*\(\?\)",
    )
)
_INTENSIFIER = rf"(?:{_alternation(INTENSIFIERS)})"
_OPINION = rf"(?:{_alternation(OPINION_WORDS)})"
_OPINION_PHRASE = re.compile(
    rf"(?:\b(?:which|that)\s+)?(?:\b(?:is|are|was|were|sounds|sound|seems|seem)\s+)?"
    rf"(?:\b{_INTENSIFIER}\s+)*\b{_OPINION}\b"
    rf"(?:\s+and\s+(?:{_INTENSIFIER}\s+)*{_OPINION}\b)?"
    rf"|\b(?:{_alternation(OPINION_ADVERBS)})\b,?",
    _I,
)

_TRAILING_JUNK = re.compile(
    r"(?:[\s,;:]*\b(?:and|or|but|while|then|as|with|which|that|so|because|is|are|was|were"
    r"|a|an|the)\b)*[\s,;:.!?]*$",
    _I,
)
_REPEATED_FUNCTION_WORD = re.compile(r"\b(the|a|an|and|is|are|of|to|in|on|at)\s+\1\b", _I)
_ARTICLE = re.compile(r"\b(a|an)\s+([A-Za-z]+)", _I)


def _starts_with_vowel_sound(word: str) -> bool:
    lower = word.lower()
    if lower.startswith(("hour", "honest", "honour", "honor", "heir")):
        return True
    if lower.startswith(("uni", "use", "usu", "uti", "eu", "one", "once", "ufo")):
        return False
    return lower[0] in "aeiou"


def _fix_articles(text: str) -> str:
    """ "a" before a vowel sound becomes "an" and vice versa (case kept)."""

    def agree(match: re.Match) -> str:
        article, word = match.groups()
        wanted = "an" if _starts_with_vowel_sound(word) else "a"
        if article.lower() == wanted:
            return match.group(0)
        return (wanted.capitalize() if article[0].isupper() else wanted) + " " + word

    return _ARTICLE.sub(agree, text)


def _match_case(word: str, like: str) -> str:
    return word[:1].upper() + word[1:] if like[:1].isupper() else word


def _edits(word: str) -> Iterator[tuple[int, str]]:
    """Words one edit away, with the edit's cost: 0 to undo the commonest typos (a dropped
    letter, a doubled letter, two letters swapped), 1 to delete any other letter, replace one
    (only in words of five letters or more: too ambiguous in shorter ones) or change the first
    letter (rarely mistyped)."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    for left, right in splits:
        for letter in letters:
            yield (0 if left else 1), left + letter + right
        if len(right) > 1:
            yield 0, left + right[1] + right[0] + right[2:]
        if right:
            doubled = left[-1:] == right[0] or right[1:2] == right[0]
            yield (0 if doubled and left else 1), left + right[1:]
            if len(word) >= 5:
                for letter in letters.replace(right[0], ""):
                    yield 1, left + letter + right[1:]


def _closest_known(word: str) -> str | None:
    best: tuple[int, int, str] | None = None
    for kind, candidate in _edits(word):
        rank = LEXICON.get(candidate)
        if rank is not None and (best is None or (kind, rank) < best[:2]):
            best = (kind, rank, candidate)
    return best[2] if best else None


def _correct_word(token: str) -> str:
    """A known word, a table typo fixed, or the closest known word one edit away; else as is."""
    lower = token.lower()
    if lower in TYPO_TABLE:
        return _match_case(TYPO_TABLE[lower], token)
    base, _, suffix = lower.partition("'")
    if lower in LEXICON or base in LEXICON or len(base) < 3 or token.isupper():
        return token
    fixed = _closest_known(base)
    if fixed is None:
        return token
    return _match_case(fixed + (f"'{suffix}" if suffix else ""), token)


def _outside_quotes(text: str, change: Callable[[str], str]) -> str:
    """Apply ``change`` to the text between quotations (quoted words are not the caption's)."""
    pieces, last = [], 0
    for match in _QUOTE_RE.finditer(text):
        pieces += [change(text[last : match.start()]), match.group(0)]
        last = match.end()
    return "".join(pieces + [change(text[last:])])


def fix_spelling(text: str) -> str:
    """Typos (table, then one edit from a known word), article agreement, doubled words."""
    text = _outside_quotes(text, lambda part: WORD.sub(lambda m: _correct_word(m.group()), part))
    text = _REPEATED_FUNCTION_WORD.sub(r"\1", text)
    return _fix_articles(text)


def _mentions_speech(text: str) -> bool:
    return any(word.lower() in SPEECH_WORDS for word in WORD.findall(text))


def describe_speech(text: str) -> str:
    """Transcribed words become a description; a caption already describing speech keeps that."""

    text = _QUOTED_SPEECH.sub(lambda match: _described(match, text), text)
    if _QUOTE_RE.search(text):
        without = _QUOTE_RE.sub("", text)
        if not WORD.search(without):
            return "Someone speaks"
        text = without if _mentions_speech(without) else _QUOTE_RE.sub("speech", text)
    return _REPORTED_SPEECH.sub(lambda match: _described(match, text), text)


def _described(match: re.Match, text: str) -> str:
    """Drop a speech verb and its words where the rest of the caption already describes speech,
    else keep the verb with "something" in place of the words."""
    rest = text[: match.start()] + text[match.end() :]
    if _mentions_speech(rest):
        return ""
    return f"{match.group('lead') or ''}{match.group('verb')} something"


def _replace_brand(match: re.Match) -> str:
    brand, after = match.group("brand"), match.group("after") or ""
    generic = BRANDS[brand.lower()]
    word = after.strip().lower()
    if word in NOUN_FORMS and word not in VERB_FORMS:  # a modifier: "a Toyota engine"
        return after.lstrip()
    return (generic or "") + after


def remove_visual(text: str) -> str:
    """Drop what is seen, not heard: silent actions, places, clothes, colours, brand names."""
    for pattern in _VISUAL_PATTERNS:
        text = pattern.sub("", text)
    return _BRAND.sub(_replace_brand, text)


def _is_opinion_clause(clause: str) -> bool:
    words = [word.lower() for word in WORD.findall(clause)]
    allowed = OPINION_WORDS | OPINION_CLAUSE_FILLER | {w for p in INTENSIFIERS for w in p.split()}
    return any(word in OPINION_WORDS for word in words) and all(word in allowed for word in words)


def remove_bias(text: str) -> str:
    """Drop hedges, first-person framing and opinions, keeping the audible description."""
    previous = None
    while previous != text:
        previous, text = text, _LEADING_BIAS.sub("", text)
    for pattern in _INNER_BIAS:
        text = pattern.sub(" ", text)
    clauses = text.split(",")
    text = ",".join(clauses[:1] + [c for c in clauses[1:] if not _is_opinion_clause(c)])
    return _OPINION_PHRASE.sub("", text)


def tidy(text: str) -> str:
    """One sentence: single spaces, no stray punctuation or dangling words, capital, period."""
    text = " ".join(text.split())
    text = re.sub(r"\s+([,.;:!?])", r"\1", text)
    text = re.sub(r"\b(a|an|the)\s*,\s*", r"\1 ", text, flags=_I)
    text = re.sub(r"([,;:])(?:\s*[,;:])+", r"\1", text)
    text = re.sub(r"^[\s,;:.!?-]+", "", text)
    text = _TRAILING_JUNK.sub("", text)
    text = re.sub(r"\bi\b", "I", _fix_articles(text))
    return text[:1].upper() + text[1:] + "." if text else ""


def _word_list(text: str) -> list[str]:
    return [word.lower() for word in WORD.findall(text)]


CLEANING_STEPS: tuple[tuple[str, Callable[[str], str]], ...] = (
    ("spelling", fix_spelling),
    ("speech", describe_speech),
    ("visual", remove_visual),
    ("bias", remove_bias),
)


def _as_clause(caption: str) -> str:
    """A caption without its final period, lower-cased unless it starts with "I" or an acronym."""
    text = caption.strip().rstrip(".!?").strip()
    first = text.split(" ", 1)[0]
    if first == "I" or (len(first) > 1 and first[:2].isupper()):
        return text
    return text[:1].lower() + text[1:]


class RuleBasedBackend(CaptionBackend):
    """Deterministic cleaning and summaries from lexicons and patterns; no network, no cost."""

    name = "offline"

    def clean(self, caption: str) -> CleanResult:
        text = " ".join(caption.replace("“", '"').replace("”", '"').replace("’", "'").split())
        changes = []
        for kind, step in CLEANING_STEPS:
            changed = step(text)
            if _word_list(changed) != _word_list(text):
                changes.append(kind)
            text = changed
        return CleanResult(tidy(text), tuple(kind for kind in CHANGE_KINDS if kind in changes))

    def summarise(self, events: Sequence[TimedCaption]) -> SummaryResult:
        """Join the clauses with "while" when a region starts before the earlier ones have all
        ended, else with ", then"."""
        text, latest_end = "", None
        for event in events:
            clause = _as_clause(event.text)
            if not clause:
                continue
            if text:
                overlaps = None not in (event.onset, latest_end) and event.onset < latest_end
                text += (" while " if overlaps else ", then ") + clause
            else:
                text = clause
            if event.offset is not None:
                latest_end = event.offset if latest_end is None else max(latest_end, event.offset)
        return SummaryResult(tidy(text))


def brand_generics(text: str) -> set[str]:
    """Generic nouns the offline backend may put in place of the brands named in ``text``."""
    return {BRANDS[w] for w in _word_list(text) if BRANDS.get(w)}
