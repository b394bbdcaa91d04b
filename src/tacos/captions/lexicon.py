"""The word lists of the offline caption cleaner, and the word forms derived from them.

The lists are resource files, ``lexicon/<name>.txt``, one per list (``#`` lines are comments):
whitespace-separated words, comma-separated phrases (``_phrases``), ``typo=fix`` pairs
(``_pairs``) or ``generic: brand ...;`` groups (``_brand_table``). Where a list's order matters
(``common_words``: the preferred correction first), its file keeps it.
"""

from __future__ import annotations

import re
from importlib.resources import files


def _read(name: str) -> str:
    """The text of ``lexicon/<name>.txt`` without its ``#`` comment lines."""
    text = (files("tacos.captions") / "lexicon" / f"{name}.txt").read_text(encoding="utf-8")
    return "\n".join(line for line in text.splitlines() if not line.startswith("#"))


def _words(text: str) -> list[str]:
    return text.split()


def _phrases(text: str) -> tuple[str, ...]:
    """Comma-separated phrases of a lexicon block, whitespace normalised."""
    return tuple(" ".join(phrase.split()) for phrase in text.split(",") if phrase.strip())


def _pairs(text: str) -> dict[str, str]:
    """``typo=fix`` pairs (an underscore in a fix stands for a space)."""
    pairs = (pair.split("=") for pair in text.split())
    return {typo: fix.replace("_", " ") for typo, fix in pairs}


def _brand_table(text: str) -> dict[str, str | None]:
    """``generic: brand brand ...;`` groups -> {brand: generic}; ``-`` means no generic noun."""
    table: dict[str, str | None] = {}
    for group in text.split(";"):
        generic, brands = group.split(":", 1)
        for brand in brands.split():
            table[brand] = None if generic.strip() == "-" else generic.strip()
    return table


FUNCTION_WORDS = frozenset(_words(_read("function_words")))

NOUNS = frozenset(_words(_read("nouns")))
SCENE_NOUNS = frozenset(_words(_read("scene_nouns")))

VERBS = frozenset(_words(_read("verbs")))

IRREGULAR_VERB_FORMS = frozenset(_words(_read("irregular_verb_forms")))

ADJECTIVES = frozenset(_words(_read("adjectives")))

COMMON_WORDS = tuple(_words(_read("common_words")))
HEDGE_WORDS = tuple(_words(_read("hedge_words")))
OPINION_WORDS = frozenset(_words(_read("opinion_words")))
OPINION_ADVERBS = frozenset(_words(_read("opinion_adverbs")))
INTENSIFIERS = _phrases(_read("intensifiers"))
OPINION_CLAUSE_FILLER = frozenset(_words(_read("opinion_clause_filler")))

COLOURS = tuple(_words(_read("colours")))
PLACES_SEEN = _phrases(_read("places_seen"))
CLOTHES = tuple(_words(_read("clothes")))
SILENT_ACTIONS = _phrases(_read("silent_actions"))
WEATHER_SEEN = tuple(_words(_read("weather_seen")))
BRANDS = _brand_table(_read("brands"))
SAY_VERBS = _phrases(_read("say_verbs"))
SPEECH_WORDS = frozenset(_words(_read("speech_words")))
TYPO_TABLE = _pairs(_read("typo_table"))
SPEECH_DESCRIPTION_WORDS = frozenset(_words(_read("speech_description_words")))
CONNECTIVE_WORDS = frozenset(_words(_read("connective_words")))


def _third_person(verb: str) -> str:
    if re.search(r"(?:s|sh|ch|x|z|o)$", verb):
        return verb + "es"
    if re.search(r"[^aeiou]y$", verb):
        return verb[:-1] + "ies"
    return verb + "s"


def _suffixed(verb: str, suffix: str) -> str:
    """``verb`` + "ing" or "ed" by the regular spelling rules (tie -> tying, ring -> ringing,
    chime -> chiming, hum -> humming, cry -> cried)."""
    if suffix == "ing" and verb.endswith("ie"):
        return verb[:-2] + "ying"
    if verb.endswith("e") and not verb.endswith(("ee", "ye", "oe")):
        return verb[:-1] + suffix
    if suffix == "ed" and re.search(r"[^aeiou]y$", verb):
        return verb[:-1] + "ied"
    if len(re.findall(r"[aeiou]+", verb)) == 1 and re.search(r"[^aeiou][aeiou][^aeiouwxy]$", verb):
        return verb + verb[-1] + suffix
    return verb + suffix


def _verb_forms(verb: str) -> set[str]:
    return {verb, _third_person(verb), _suffixed(verb, "ing"), _suffixed(verb, "ed")}


def _noun_forms(noun: str) -> set[str]:
    return {noun, _third_person(noun)}


def _rule_words() -> set[str]:
    """Every word the rules look for, so a typo in one of them is corrected first."""
    phrases = (
        list(HEDGE_WORDS)
        + list(INTENSIFIERS)
        + list(COLOURS)
        + list(PLACES_SEEN)
        + list(CLOTHES)
        + list(SILENT_ACTIONS)
        + list(WEATHER_SEEN)
        + list(SAY_VERBS)
        + list(BRANDS)
    )
    words = {word for phrase in phrases for word in re.findall(r"[a-z'-]+", phrase)}
    words |= OPINION_WORDS | OPINION_ADVERBS | OPINION_CLAUSE_FILLER | SPEECH_WORDS
    words |= set(TYPO_TABLE.values()) | {
        "think",
        "believe",
        "guess",
        "suppose",
        "seems",
        "hear",
        "heard",
        "notice",
        "opinion",
        "honestly",
        "sure",
    }
    return words


def _build_lexicon() -> dict[str, int]:
    """Known words -> rank (lower: preferred when two corrections are equally close): common
    caption words first, then function words, the sound vocabulary, and the rules' words."""
    ordered: list[str] = list(COMMON_WORDS) + sorted(FUNCTION_WORDS)
    for noun in sorted(NOUNS):
        ordered += sorted(_noun_forms(noun))
    for verb in sorted(VERBS):
        ordered += sorted(_verb_forms(verb))
    ordered += sorted(IRREGULAR_VERB_FORMS) + sorted(ADJECTIVES)
    for noun in sorted(SCENE_NOUNS):
        ordered += sorted(_noun_forms(noun))
    ordered += sorted(_rule_words())
    lexicon: dict[str, int] = {}
    for word in ordered:
        lexicon.setdefault(word, len(lexicon))
    return lexicon


LEXICON = _build_lexicon()
VERB_FORMS = frozenset(IRREGULAR_VERB_FORMS.union(*(_verb_forms(verb) for verb in VERBS)))
NOUN_FORMS = frozenset(set().union(*(_noun_forms(noun) for noun in NOUNS | SCENE_NOUNS)))
