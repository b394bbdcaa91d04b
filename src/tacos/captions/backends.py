"""Caption backends: clean one annotator caption, or summarise a file's captions in one sentence.

Two backends share one interface (``CaptionBackend``):

- ``OpenAIChatBackend`` calls any OpenAI-compatible ``/chat/completions`` endpoint (the hosted
  API, vLLM, Ollama, ...) at temperature 0, asks for a JSON object and validates it, and retries
  rate limits (honouring ``Retry-After``), server errors, timeouts and malformed answers with
  exponential backoff. The prompts are versioned package files; the API key is read from an
  environment variable named in the config and is redacted from every message it could reach.
- ``RuleBasedBackend`` does the same job offline and deterministically with lexicons and
  patterns: the demo's default, and the fallback for rows an LLM call could not clean.

Change kinds reported by both: ``spelling`` (typos, articles, repeated words), ``visual`` (what
cannot be heard: colours, places and people seen, brands), ``speech`` (transcribed words replaced
by a description) and ``bias`` (hedges, first person, opinions).
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import os
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any, TypeVar

log = logging.getLogger(__name__)

CHANGE_KINDS = ("spelling", "visual", "speech", "bias")
CHANGE_ALIASES = {"grammar": "spelling", "typo": "spelling", "transcript": "speech"}
PROMPT_TASKS = ("clean", "summarise")
REDACTED = "[redacted]"


# ---------------------------------------------------------------------------------------------
# Results and errors


@dataclass(frozen=True)
class Usage:
    """What a call cost: tokens as the server counted them, and HTTP requests sent (retries too)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.requests + other.requests,
        )

    def to_dict(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "requests": self.requests,
        }


@dataclass(frozen=True)
class CleanResult:
    """A cleaned caption and the kinds of change made (a subset of ``CHANGE_KINDS``, in order)."""

    caption: str
    changes: tuple[str, ...] = ()
    usage: Usage = field(default_factory=Usage)

    def to_dict(self) -> dict[str, Any]:
        return {
            "caption": self.caption,
            "changes": list(self.changes),
            "usage": self.usage.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CleanResult:
        return cls(data["caption"], tuple(data["changes"]), Usage(**data["usage"]))


@dataclass(frozen=True)
class SummaryResult:
    """A file's weak caption: one sentence over its strong captions in temporal order."""

    caption: str
    usage: Usage = field(default_factory=Usage)

    def to_dict(self) -> dict[str, Any]:
        return {"caption": self.caption, "usage": self.usage.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SummaryResult:
        return cls(data["caption"], Usage(**data["usage"]))


@dataclass(frozen=True)
class TimedCaption:
    """One strong caption with its region (seconds; None where the CSV value is not a number)."""

    text: str
    onset: float | None
    offset: float | None


class CaptionConfigError(ValueError):
    """The captions config cannot work as written; the message says how to fix it."""


class CaptionBackendError(RuntimeError):
    """A call failed for good (after its retries, or at once when retrying cannot help).

    The message never contains the API key, and ``usage`` still counts what the attempts cost.
    """

    def __init__(self, message: str, usage: Usage | None = None):
        super().__init__(message)
        self.usage = usage or Usage()


class CaptionBackend(ABC):
    """Clean one caption; summarise one file's cleaned captions given in temporal order."""

    name: str
    #: Whether answers may be stored in the response cache (deterministic code is not cached,
    #: so that a change to the rules takes effect without clearing a cache).
    cacheable: bool = False

    @abstractmethod
    def clean(self, caption: str) -> CleanResult: ...

    @abstractmethod
    def summarise(self, events: Sequence[TimedCaption]) -> SummaryResult: ...

    def cache_identity(self, task: str) -> str:
        """What, besides the input, decides an answer to ``task`` (part of the cache key)."""
        return json.dumps({"backend": self.name, "task": task})

    def describe(self) -> dict[str, Any]:
        """Settings for the report (never secrets)."""
        return {"backend": self.name}


# ---------------------------------------------------------------------------------------------
# Prompts


def load_prompt(task: str, version: str) -> str:
    """The system prompt of ``task`` at ``version`` (``prompts/<task>_<version>.md``)."""
    folder = files("tacos.captions") / "prompts"
    resource = folder / f"{task}_{version}.md"
    if not resource.is_file():
        known = sorted(
            entry.name.removeprefix(f"{task}_").removesuffix(".md")
            for entry in folder.iterdir()
            if entry.name.startswith(f"{task}_")
        )
        raise CaptionConfigError(
            f"there is no prompt version {version!r} for {task}; set captions.prompt_version to "
            f"one of {known}"
        )
    return resource.read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# OpenAI-compatible chat-completions client


class _Retryable(Exception):
    """A failure that a later attempt may not meet (rate limit, 5xx, timeout, malformed answer)."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


_Parsed = TypeVar("_Parsed")


class _Fatal(Exception):
    """A failure that retrying cannot fix (bad request, wrong key, unknown model)."""


class OpenAIChatBackend(CaptionBackend):
    """Chat completions through the openai SDK at ``base_url`` (OpenAI, vLLM, Ollama) with a
    versioned system prompt and a JSON answer; our retries, answer checks and key redaction."""

    name = "openai"
    cacheable = True

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key_env: str | None = None,
        prompt_version: str = "v1",
        timeout_s: float = 60.0,
        max_retries: int = 5,
        backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.prompt_version = prompt_version
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._sleep = sleep
        self._api_key = _read_api_key(api_key_env)
        self._prompts = {task: load_prompt(task, prompt_version) for task in PROMPT_TASKS}
        self._client_module = _import_openai()
        self._client = self._client_module.OpenAI(
            base_url=base_url.rstrip("/"),
            api_key=self._api_key or "unused",
            timeout=timeout_s,
            max_retries=0,
        )
        # A local server without a key gets no Authorization header at all.
        self._omitted_authorization = (
            None if self._api_key else {"Authorization": self._client_module.Omit()}
        )

    def __repr__(self) -> str:
        return (
            f"OpenAIChatBackend(url={self.url!r}, model={self.model!r}, "
            f"prompt_version={self.prompt_version!r})"
        )

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "url": self.url,
            "model": self.model,
            "prompt_version": self.prompt_version,
        }

    def cache_identity(self, task: str) -> str:
        prompt_sha = hashlib.sha256(self._prompts[task].encode()).hexdigest()
        return json.dumps(
            {
                "backend": self.name,
                "model": self.model,
                "prompt_version": self.prompt_version,
                "prompt_sha256": prompt_sha,
                "task": task,
            },
            sort_keys=True,
        )

    def clean(self, caption: str) -> CleanResult:
        (cleaned, changes), usage = self._chat("clean", {"caption": caption}, _parse_clean_answer)
        return CleanResult(cleaned, changes, usage)

    def summarise(self, events: Sequence[TimedCaption]) -> SummaryResult:
        payload = {
            "events": [
                {"caption": event.text, "onset": event.onset, "offset": event.offset}
                for event in events
            ]
        }
        summary, usage = self._chat("summarise", payload, _parse_caption_field)
        return SummaryResult(summary, usage)

    # -- one call with retries ----------------------------------------------------------------

    def _chat(
        self, task: str, payload: dict[str, Any], parse: Callable[[dict[str, Any]], _Parsed]
    ) -> tuple[_Parsed, Usage]:
        """The parsed answer and what all attempts cost; raises CaptionBackendError.

        ``parse`` reads the answer's JSON object and raises ``_Retryable`` where it does not
        have the requested fields (a malformed answer is retried like a malformed body).
        """
        body = {
            "model": self.model,
            "temperature": 0,
            "response_format": {"type": "json_object"},
            "messages": [
                {"role": "system", "content": self._prompts[task]},
                {"role": "user", "content": json.dumps(payload, ensure_ascii=False)},
            ],
        }
        attempts = self.max_retries + 1
        spent = Usage()
        for attempt in range(1, attempts + 1):
            spent += Usage(requests=1)
            try:
                data = self._post(body)
                spent += _token_usage(data)
                return parse(_answer_object(data)), spent
            except _Fatal as problem:
                raise CaptionBackendError(self._redact(f"{task}: {problem}"), spent) from None
            except _Retryable as problem:
                if attempt == attempts:
                    message = f"{task}: gave up after {attempts} attempts; last error: {problem}"
                    raise CaptionBackendError(self._redact(message), spent) from None
                delay = self._delay(attempt, problem.retry_after)
                log.warning(
                    "%s", self._redact(f"{task}: {problem}; retry {attempt} in {delay:.2f} s")
                )
                self._sleep(delay)
        raise AssertionError("unreachable: the loop returns or raises")

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        """Retry-After when the server gave one, else exponential backoff; both capped."""
        wanted = retry_after if retry_after is not None else self.backoff_s * 2 ** (attempt - 1)
        return min(self.max_backoff_s, wanted)

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        """One request through the openai SDK (its own retries off: ours count and back off)."""
        openai = self._client_module
        try:
            completion = self._client.chat.completions.create(
                **body, extra_headers=self._omitted_authorization
            )
        except openai.APITimeoutError:
            raise _Retryable(f"no answer within {self.timeout_s} s") from None
        except openai.APIConnectionError as error:
            raise _Retryable(f"cannot connect to {self.url} ({type(error).__name__})") from None
        except openai.RateLimitError as error:
            retry_after = _retry_after_seconds(error.response.headers.get("Retry-After"))
            raise _Retryable("rate limited (HTTP 429)", retry_after) from None
        except openai.InternalServerError as error:
            text = error.response.text[:200]
            raise _Retryable(f"server error (HTTP {error.status_code}): {text}") from None
        except openai.APIStatusError as error:
            text = error.response.text[:300]
            raise _Fatal(f"HTTP {error.status_code} from {self.url}: {text}") from None
        except (openai.APIResponseValidationError, ValueError) as error:
            raise _Retryable(f"answer is not JSON: {type(error).__name__}") from None
        # A body that is not JSON comes back from the SDK as its text, not as a completion.
        if isinstance(completion, str):
            raise _Retryable(f"answer is not JSON: {completion[:120]!r}")
        data = completion.model_dump()
        if self._api_key and self._api_key in json.dumps(data, ensure_ascii=False):
            # Never let an echoed key reach the cache, the outputs or a log.
            raise _Retryable("the answer contains the API key; it was discarded")
        return data

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, REDACTED) if self._api_key else text


def _import_openai():
    """The openai SDK, an optional extra of the project."""
    try:
        import openai
    except ModuleNotFoundError:
        raise CaptionConfigError(
            "the openai caption backend needs the openai SDK: "
            "pip install 'tacos-reproduction[openai]'"
        ) from None
    return openai


def _read_api_key(env_name: str | None) -> str | None:
    """The key from the environment variable ``env_name`` (None: the server needs no key)."""
    if not env_name:
        return None
    key = os.environ.get(env_name, "").strip()
    if not key:
        raise CaptionConfigError(
            f"captions.api_key_env names the environment variable {env_name}, which is not set; "
            f"export {env_name}=<your key>, or set captions.api_key_env to null for a local "
            "server that needs no key"
        )
    return key


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _token_usage(data: dict[str, Any]) -> Usage:
    usage = data.get("usage") if isinstance(data, dict) else None
    if not isinstance(usage, dict):
        return Usage()
    return Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))


def _answer_object(data: Any) -> dict[str, Any]:
    """The JSON object inside ``choices[0].message.content`` (code fences tolerated)."""
    try:
        content = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise _Retryable("answer has no choices[0].message.content") from None
    if not isinstance(content, str):
        raise _Retryable("message content is not text")
    text = re.sub(r"^```(?:json)?\s*|\s*```$", "", content.strip())
    try:
        answer = json.loads(text)
    except ValueError:
        raise _Retryable(f"message content is not JSON: {content[:120]!r}") from None
    if not isinstance(answer, dict):
        raise _Retryable("message content is not a JSON object")
    return answer


def _parse_caption_field(answer: dict[str, Any]) -> str:
    caption = answer.get("caption")
    if not isinstance(caption, str) or not caption.strip():
        raise _Retryable("the answer's 'caption' is missing or empty")
    return " ".join(caption.split())


def _parse_clean_answer(answer: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    """The caption and change kinds of a cleaning answer; unknown kinds are an error."""
    caption = _parse_caption_field(answer)
    changes = answer.get("changes", [])
    if not isinstance(changes, list) or not all(isinstance(kind, str) for kind in changes):
        raise _Retryable("the answer's 'changes' is not a list of strings")
    kinds = {CHANGE_ALIASES.get(kind.lower(), kind.lower()) for kind in changes}
    unknown = kinds - set(CHANGE_KINDS)
    if unknown:
        raise _Retryable(f"the answer names unknown change kinds {sorted(unknown)}")
    return caption, tuple(kind for kind in CHANGE_KINDS if kind in kinds)


# ---------------------------------------------------------------------------------------------
# Offline rule-based backend: lexicons


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


FUNCTION_WORDS = frozenset(
    _words("""
    a an the and or but nor of to in on at by for with from into onto over under up down out off
    about around through across along against between behind beside near next then than while
    as when before after during until again also just only even very really quite so too is are
    was were be been being am it its it's this that these those there here some someone somebody
    something anyone anything nothing no not one two three four five six seven eight nine ten
    several few many much more most less least little lot lots all both each every other another
    same such which who whom whose what where how why his her hers their theirs our ours your
    yours my mine he she they we you i them him us me itself himself herself themselves can
    could may might will would should must shall do does did done has have had having get gets
    getting got go goes going went gone come comes coming came become becomes became keep keeps
    kept being don't doesn't didn't isn't aren't wasn't can't won't there's that's let lets
    away back together once twice later first second finally still yet ever never always often
    sometimes now soon meanwhile simultaneously following followed
""")
)

NOUNS = frozenset(
    _words("""
    man woman person people child children kid kids baby babies boy girl crowd audience group
    men women adult lady gentleman player worker speaker announcer singer voice voices speech
    conversation chatter laughter laugh cough sneeze breath footstep footsteps step steps hand
    hands clap claps applause cheer scream shout yell cry giggle murmur whisper song snore
    dog dogs puppy cat cats kitten bird birds crow raven pigeon dove seagull gull owl duck ducks
    goose geese chicken chickens hen rooster cow cows cattle sheep lamb goat horse horses pony
    pig pigs frog frogs toad cricket crickets insect insects bee bees wasp wasps fly flies
    mosquito cicada cicadas animal animals wolf lion tiger bear monkey elephant whale squirrel
    mouse mice rat parrot songbird woodpecker hooves paws wings
    car cars truck trucks bus buses train trains tram subway motorcycle motorbike bike bicycle
    scooter engine engines motor motors vehicle vehicles traffic airplane plane aircraft jet
    helicopter boat ship ferry tractor van taxi ambulance police firetruck horn horns siren
    sirens tire tires tyre tyres wheel wheels brake brakes exhaust railway track tracks
    door doors window windows drawer cupboard cabinet lock key keys bell bells doorbell clock
    clocks alarm timer phone phones telephone cellphone smartphone mobile ringtone landline tv
    television radio computer keyboard printer fan fridge refrigerator microwave oven stove
    kettle pot pan pans dish dishes plate plates cup cups glass glasses bottle bottles spoon
    fork knife cutlery sink tap faucet toilet shower bath vacuum cleaner dryer blender mixer
    chair table floor wall walls ceiling stairs bag paper plastic box boxes can cans lid switch
    button buttons device devices machine machines appliance tool tools hammer hammers nail
    nails saw drill screwdriver wrench chainsaw lawnmower mower generator compressor pump
    metal wood glass surface surfaces object objects item items
    rain raindrops rainfall drizzle thunder thunderstorm storm lightning wind winds breeze gust
    gusts air water stream streams river rivers brook creek waterfall wave waves ocean sea lake
    pond fountain drops drop splash fire flames leaves leaf branch branches tree trees grass
    gravel sand snow ice mud rock rocks stone stones ground roof forest woods field
    music melody melodies tune tunes songs instrument instruments guitar piano drum drums violin
    cello bass flute trumpet saxophone organ harp chime chimes gong cymbal cymbals synthesizer
    beat beats rhythm note notes chord chords orchestra band choir
    sound sounds noise noises tone tones pitch volume echo echoes reverberation reverb hiss
    buzz hum rumble whir clatter clang clank click clicks tick ticks tock thud thuds thump
    thumps bang bangs crash crashes creak squeak squeal screech beep beeps bleep bleeps chirp
    chirps tweet tweets rattle rustle crackle crunch scratch tap taps knock knocks pop pops
    sizzle gurgle trickle roar howl whoosh swoosh static feedback distortion silence
    background foreground distance moment moments time times seconds start end beginning
    middle series sequence burst bursts pattern loop blows blow wail patter babble
""")
)
# Places, clothes and other things seen: known words (so their typos are fixed before the
# visual rules look for them) that rank after the sound vocabulary.
SCENE_NOUNS = frozenset(
    _words("""
    kitchen room rooms bedroom bathroom hallway corridor office classroom garage basement
    attic house houses home apartment garden backyard yard park playground street streets road
    roads highway city town village market station airport church school restaurant cafe shop
    store building studio stadium beach farm lobby
    jacket shirt hat coat dress skirt suit shoes boots sweater hoodie cap scarf gloves jeans
    trousers pants uniform sneakers sunglasses fence screen video picture image photo frame
    camera footage day days morning afternoon evening night sunlight sun sky cloud clouds
    light lights color colour colors colours
""")
)

VERBS = frozenset(
    _words("""
    bark howl growl whine whimper meow purr chirp tweet sing call caw crow quack cluck moo bleat
    neigh oink croak buzz hum hiss roar rumble idle rev accelerate brake honk beep bleep ring
    chime toll jingle jangle tinkle clang clank clatter rattle creak squeak squeal screech scrape
    scratch rub knock tap bang hit strike slam shut close open click tick crash smash break drop
    fall splash drip pour flow run trickle gurgle babble bubble boil sizzle fry crackle burn blow
    gust whistle whoosh rustle crunch crumple tear rip cut chop saw drill hammer pound grind whir
    whirr spin vibrate play strum pluck speak talk say shout yell scream whisper laugh giggle cry
    sob cough sneeze sniff breathe snore clap cheer applaud walk step stomp jump move pass
    approach drive fly land take leave arrive stop start begin continue end repeat fade echo
    sound hear listen wail blare pulse beat thump thud flap flutter swing sweep wipe wash brush
    type write print press pull push drag roll slide shake stir mix fill empty lift carry throw
    catch bounce kick rain thunder patter pat pour hoot chatter mutter murmur announce ask
    answer reply call go come idle hit dig rise sweep toll hiss gallop trot coo hoot chirr bray
    squawk trill warble cackle gobble baa bellow grunt snort yelp yap yip peep purr honk
""")
)

IRREGULAR_VERB_FORMS = frozenset(
    _words("""
    rang rung sang sung blew blown fell fallen struck broke broken spoke spoken said ran flew
    flown drove driven shook shaken took taken came went gone left began begun rose risen threw
    thrown tore torn heard made dug swung swept hung caught kept stood sat wore worn
""")
)

ADJECTIVES = frozenset(
    _words("""
    loud quiet soft faint gentle low high deep shrill sharp dull muffled distant close nearby
    far steady constant continuous intermittent repeated repetitive rhythmic regular irregular
    short long brief quick fast slow rapid sudden heavy light strong weak small large big huge
    little tiny old new electronic mechanical metallic wooden electric digital human male female
    young distorted clear echoing reverberant busy empty calm rough smooth hollow harsh bright
    dark warm cold wet dry multiple single various different whole entire main gusty emergency
    hard loudly quietly softly faintly gently slowly quickly rapidly suddenly repeatedly
    steadily constantly continuously occasionally intermittently briefly rhythmically heavily
    lightly sharply nearby
""")
)

# The commonest words of audio captions, roughly most frequent first: where two corrections of a
# typo are equally close, the one earlier here (or in no list below) wins ("shrt" -> "short").
COMMON_WORDS = tuple(
    _words("""
    a the and of is in on with while by as then to an are from at it some someone man woman
    people person speaks talking talks speaking speech voice water running flowing flows dog
    barking barks bark bird birds chirping chirps chirp singing sings car engine idling idles
    vehicle passing passes motor loud loudly quietly softly ringing rings ring rain raining
    falling falls wind blowing blows music playing plays sound sounds noise background distance
    bang bangs banging bell bells beep beeps beeping clock ticking ticks siren wailing wails
    horn door knocking knocks knock footsteps walking hammer hammering metal wooden glass
    insects insect buzzing buzzes buzz bee bees crowd laughing child children baby crying
    whistling whistles whistle whistled tune melody phone telephone train airplane motorcycle
    truck traffic several few times repeatedly steady steadily short long high low small large
    heavy light electronic tapping clicking thunder stream river waves splashing machine device
    series something like over into hear heard
""")
)
HEDGE_WORDS = tuple(
    _words("""
    maybe perhaps probably possibly presumably apparently seemingly
""")
)
OPINION_WORDS = frozenset(
    _words("""
    annoying irritating unpleasant pleasant nice lovely beautiful relaxing soothing calming
    peaceful boring awful terrible horrible disturbing creepy scary cute funny ugly amazing
    awesome cool wonderful fantastic satisfying disgusting gross obnoxious grating
""")
)
OPINION_ADVERBS = frozenset(
    _words("""
    annoyingly irritatingly pleasantly nicely beautifully terribly horribly unfortunately sadly
    luckily thankfully
""")
)
INTENSIFIERS = _phrases("""
    very, really, quite, super, so, extremely, rather, pretty, too, kind of, sort of, a bit,
    a little, somewhat, incredibly, fairly, totally, absolutely, truly,
""")
# Words an opinion clause may contain besides opinions and intensifiers ("which is really
# annoying", ", nice sound", ", super loud and irritating"): such a clause is dropped whole.
OPINION_CLAUSE_FILLER = frozenset(
    _words("""
    which that it it's is are was were sounds sound noise a an the and but also kind sort of
    bit little this loud quiet soft harsh high low sharp
""")
)

COLOURS = tuple(
    _words("""
    red blue green yellow orange purple pink brown black white grey gray violet turquoise
    beige golden silver maroon navy colorful colourful shiny sparkly
""")
)
PLACES_SEEN = _phrases("""
    living room, dining room, kitchen, bedroom, bathroom, room, hallway, corridor, office,
    classroom, garage, basement, attic, apartment, house, garden, backyard, yard, park,
    playground, shop, store, lobby, video, picture, image, photo, footage,
""")
CLOTHES = tuple(
    _words("""
    jacket coat t-shirt shirt hat cap dress skirt suit uniform sweater hoodie scarf gloves
    jeans trousers pants shoes boots sneakers sunglasses
""")
)
SILENT_ACTIONS = _phrases("""
    stands, standing, sits, sitting, watches, watching, looks, looking, waits, waiting,
    smiles, smiling, stares, staring, poses, posing, is seen, are seen, can be seen,
    is visible, appears, glows, shines, shining, lies, lying,
""")
WEATHER_SEEN = tuple(
    _words("""
    sunny cloudy bright clear beautiful nice lovely hot warm cold summer winter spring autumn
""")
)
# Brand -> the generic noun that replaces it where it names the source ("an iPhone rings"); a
# brand before a noun ("a Toyota engine") is dropped. None: no audible generic, always dropped.
BRANDS = _brand_table("""
    car: toyota honda ford bmw mercedes mercedes-benz volkswagen vw audi tesla ferrari porsche
         chevrolet nissan volvo;
    motorcycle: harley-davidson harley ducati; phone: iphone nokia blackberry motorola;
    laptop: macbook; console: xbox playstation nintendo; vacuum: dyson hoover;
    airplane: boeing airbus; lighter: zippo; watch: rolex; drink: coca-cola coke pepsi sprite;
    -: samsung sony apple nike adidas ikea starbucks mcdonald's google microsoft philips bosch
       yamaha
""")
SAY_VERBS = _phrases("""
    says, said, say, saying, shouts, shouted, shouting, yells, yelled, yelling, screams,
    screamed, screaming, whispers, whispered, whispering, asks, asked, asking, calls out,
    called out, calling out, sings, sang, singing, announces, announced, announcing, exclaims,
    exclaimed, mutters, muttered, muttering, replies, replied, repeats, repeating, tells,
    telling, reads, reading,
""")
SPEECH_WORDS = frozenset(
    _words("""
    speak speaks speaking spoke spoken talk talks talking talked voice voices speech
    conversation chatting chatter says saying said shouts shouting yells yelling whispers
    whispering announces announcing asks asking sings singing narrates narrating
""")
)
# Typos too far from their word, or too common, to leave to the edit-distance corrector.
TYPO_TABLE = _pairs("""
    teh=the adn=and nad=and wiht=with whit=with wich=which thier=their becuase=because
    untill=until alot=a_lot somthing=something someting=something soemone=someone
    somone=someone peple=people poeple=people wistle=whistle wistles=whistles
    wistling=whistling whisle=whistle sirene=siren enigne=engine engien=engine
    backround=background backgroud=background reving=revving humm=hum buzzs=buzzes
    loudy=loudly continously=continuously occassionally=occasionally repeatidly=repeatedly
    clok=clock dorr=door
""")
# Words a cleaned caption may hold although its input does not (descriptions of speech).
SPEECH_DESCRIPTION_WORDS = frozenset(
    _words(
        "someone somebody person people speaks speak speaking talking talks voice voices speech "
        "says say something words"
    )
)


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


# ---------------------------------------------------------------------------------------------
# Offline rule-based backend: patterns


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
