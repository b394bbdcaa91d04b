"""Caption backends: the offline rules per noise kind, and the chat client against a real server."""

import json
import logging

import pytest

from tacos.captions.backends import (
    CaptionBackendError,
    CaptionConfigError,
    TimedCaption,
    Usage,
    load_prompt,
)
from tacos.captions.cache import ResponseCache, cache_key
from tacos.captions.openai_backend import OpenAIChatBackend
from tacos.captions.rules import RuleBasedBackend

# ---------------------------------------------------------------------------------------------
# Offline rule-based backend


@pytest.mark.parametrize(
    ("raw", "cleaned", "changes"),
    [
        # spelling: dropped, doubled and swapped letters, the typo table, articles
        ("A dgo brks loudly", "A dog barks loudly.", ("spelling",)),
        ("A clock is tickking steadly", "A clock is ticking steadily.", ("spelling",)),
        ("teh bell rings", "The bell rings.", ("spelling",)),
        ("a alarm beeps", "An alarm beeps.", ("spelling",)),
        # visual: colours, places and silent people seen, clothes, brands, weather
        ("A red car idles in the kitchen", "A car idles.", ("visual",)),
        ("A dog barks next to a blue house", "A dog barks.", ("visual",)),
        ("A man in a yellow jacket whistles", "A man whistles.", ("visual",)),
        ("Rain falls while a woman stands there", "Rain falls.", ("visual",)),
        ("An iPhone rings on the screen", "A phone rings.", ("visual",)),
        ("A Toyota engine idles on a sunny day", "An engine idles.", ("visual",)),
        ("White noise in a bright room", "White noise.", ("visual",)),
        # speech: transcribed words become a description
        ('A man says "come over here"', "A man says something.", ("speech",)),
        ('"See you tomorrow"', "Someone speaks.", ("speech",)),
        ('A woman is talking, saying "where did you put it"', "A woman is talking.", ("speech",)),
        (
            "A woman says goodbye while a dog barks",
            "A woman says something while a dog barks.",
            ("speech",),
        ),
        # bias: hedges, first person, opinions
        ("Maybe I hear a dog barks", "A dog barks.", ("bias",)),
        ("It seems like rain falls, which is really annoying", "Rain falls.", ("bias",)),
        ("We hear an annoying beep", "A beep.", ("bias",)),
        ("I think a bee buzzes, kind of relaxing", "A bee buzzes.", ("bias",)),
        ("A siren wails, super loud and irritating", "A siren wails.", ("bias",)),
        # everything at once, as the demo's annotators type it
        (
            'Probbably I can hear a man speaks, saying "hello there" in the kitchen, very annoying',
            "A man speaks.",
            ("spelling", "visual", "speech", "bias"),
        ),
    ],
)
def test_offline_backend_removes_each_kind_of_noise(raw, cleaned, changes):
    result = RuleBasedBackend().clean(raw)
    assert (result.caption, result.changes) == (cleaned, changes)
    assert result.usage == Usage()


@pytest.mark.parametrize(
    "caption",
    [
        "A police siren wails in the distance.",
        "Somebody knocks on a wooden door.",
        "Light rain falls on a roof.",
        "White noise.",
        "A man says something.",
        "Pigeons coo and flap their wings.",
        "Someone whistles a tune near the microphone.",
    ],
)
def test_offline_backend_keeps_clean_audible_captions(caption):
    result = RuleBasedBackend().clean(caption)
    assert (result.caption, result.changes) == (caption, ())


def test_offline_summary_follows_the_given_order_with_while_for_overlaps():
    events = [
        TimedCaption("A bell rings.", 0.5, 3.0),
        TimedCaption("A dog barks.", 4.1, 5.0),
        TimedCaption("Rain falls.", 4.5, 12.0),
        TimedCaption("TV static hisses.", 13.0, 14.0),
        TimedCaption("Someone speaks.", None, None),
    ]
    summary = RuleBasedBackend().summarise(events)
    assert summary.caption == (
        "A bell rings, then a dog barks while rain falls, then TV static hisses, "
        "then someone speaks."
    )


# ---------------------------------------------------------------------------------------------
# OpenAI-compatible client against a real HTTP server


def _client(server, sleeps=None, **overrides):
    settings = dict(
        base_url=server.base_url,
        model="test-model",
        api_key_env="TACOS_TEST_API_KEY",
        max_retries=3,
        timeout_s=5.0,
        backoff_s=0.5,
        max_backoff_s=30.0,
        sleep=(sleeps.append if sleeps is not None else lambda seconds: None),
    )
    return OpenAIChatBackend(**(settings | overrides))


def test_client_sends_a_json_mode_request_at_temperature_zero(chat_server, api_key):
    result = _client(chat_server).clean("Maybe I hear a dgo barks")
    assert (result.caption, result.changes) == ("A dog barks.", ("spelling", "bias"))
    assert result.usage == Usage(prompt_tokens=100, completion_tokens=20, requests=1)
    (request,) = chat_server.requests
    body = request["body"]
    assert request["path"] == "/v1/chat/completions"
    assert request["auth"] == f"Bearer {api_key}"
    assert (body["model"], body["temperature"]) == ("test-model", 0)
    assert body["response_format"] == {"type": "json_object"}
    assert body["messages"][0] == {"role": "system", "content": load_prompt("clean", "v1")}
    assert json.loads(body["messages"][1]["content"]) == {"caption": "Maybe I hear a dgo barks"}


def test_client_without_key_env_sends_no_authorization(chat_server):
    _client(chat_server, api_key_env=None).clean("A dog barks.")
    assert chat_server.requests[0]["auth"] == ""


def test_summary_request_lists_events_with_times(chat_server, api_key):
    events = [TimedCaption("A bell rings.", 0.5, 3.0), TimedCaption("A dog barks.", 4.0, 5.0)]
    summary = _client(chat_server).summarise(events)
    assert summary.caption == "A bell rings, then a dog barks."
    assert json.loads(chat_server.user_messages[0]) == {
        "events": [
            {"caption": "A bell rings.", "onset": 0.5, "offset": 3.0},
            {"caption": "A dog barks.", "onset": 4.0, "offset": 5.0},
        ]
    }


@pytest.mark.parametrize(
    ("faults", "expected_sleeps"),
    [
        ([("429", 7)], [7.0]),  # Retry-After honoured
        ([("429", 120)], [30.0]),  # ... up to max_backoff_s
        (["500", "500"], [0.5, 1.0]),  # exponential backoff
        (["bad_body", "bad_content", "no_caption"], [0.5, 1.0, 2.0]),  # malformed answers
    ],
)
def test_client_retries_transient_failures(chat_server, api_key, faults, expected_sleeps):
    chat_server.faults.extend(faults)
    sleeps = []
    result = _client(chat_server, sleeps).clean("A dog barks.")
    assert result.caption == "A dog barks."
    assert sleeps == expected_sleeps
    assert len(chat_server.requests) == len(faults) + 1
    assert result.usage.requests == len(faults) + 1


def test_client_retries_a_timeout(chat_server, api_key):
    chat_server.faults.append(("slow", 1.0))
    result = _client(chat_server, timeout_s=0.25).clean("A dog barks.")
    assert result.caption == "A dog barks."
    assert len(chat_server.requests) == 2


def test_client_gives_up_after_bounded_attempts(chat_server, api_key):
    chat_server.faults.extend(["500"] * 5)
    with pytest.raises(CaptionBackendError, match="gave up after 3 attempts") as failure:
        _client(chat_server, max_retries=2).clean("A dog barks.")
    assert len(chat_server.requests) == 3
    assert failure.value.usage.requests == 3


def test_client_does_not_retry_a_bad_request(chat_server, api_key):
    chat_server.faults.append("400")
    sleeps = []
    with pytest.raises(CaptionBackendError, match="HTTP 400"):
        _client(chat_server, sleeps).clean("A dog barks.")
    assert (len(chat_server.requests), sleeps) == (1, [])


def test_api_key_is_redacted_from_errors_logs_and_repr(chat_server, api_key, caplog):
    chat_server.faults.extend(["echo_500", "echo_401"])
    caplog.set_level(logging.DEBUG)
    backend = _client(chat_server)
    with pytest.raises(CaptionBackendError) as failure:
        backend.clean("A dog barks.")
    assert "bad credentials: Bearer [redacted]" in str(failure.value)
    assert "bad credentials: Bearer [redacted]" in caplog.text  # the 500 was logged, redacted
    for text in (str(failure.value), caplog.text, repr(backend), str(vars(backend).keys())):
        assert api_key not in text


def test_missing_key_variable_is_a_config_error(monkeypatch, chat_server):
    monkeypatch.delenv("TACOS_TEST_API_KEY", raising=False)
    with pytest.raises(CaptionConfigError, match="TACOS_TEST_API_KEY, which is not set"):
        _client(chat_server)


def test_unknown_prompt_version_is_a_config_error(chat_server, api_key):
    with pytest.raises(CaptionConfigError, match=r"one of \['v1'\]"):
        _client(chat_server, prompt_version="v9")


# ---------------------------------------------------------------------------------------------
# Response cache


def test_cache_persists_answers_across_reopening(tmp_path):
    path = tmp_path / "cache" / "answers.sqlite"
    key = cache_key("identity", "A dog barks.")
    with ResponseCache(path) as cache:
        cache.put(key, "identity", "A dog barks.", {"caption": "A dog barks.", "changes": []})
    with ResponseCache(path) as cache:
        assert cache.get(key) == {"caption": "A dog barks.", "changes": []}
        assert cache.get(cache_key("identity", "A cat meows.")) is None
        assert len(cache) == 1


def test_cache_identity_separates_models_and_prompts(chat_server, api_key):
    mini, other = _client(chat_server), _client(chat_server, model="other-model")
    assert mini.cache_identity("clean") != other.cache_identity("clean")
    assert mini.cache_identity("clean") != mini.cache_identity("summarise")
    identity = json.loads(mini.cache_identity("clean"))
    assert (identity["model"], identity["prompt_version"]) == ("test-model", "v1")
    assert cache_key(mini.cache_identity("clean"), "x") != cache_key(
        other.cache_identity("clean"), "x"
    )
