from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.inbound import MAX_TEXT_CHARS, clean_user_text, is_button_payload, strip_command_prefix


def test_typed_intent_is_neutralised_to_plain_text() -> None:
    out = clean_user_text('/complain{"entity_id": "moh"}')
    assert out.problem is None
    assert not out.text.startswith("/")
    assert out.text == 'complain{"entity_id": "moh"}'


def test_empty_and_whitespace_are_refused() -> None:
    assert clean_user_text("").problem == "empty"
    assert clean_user_text("   \n").problem == "empty"
    assert clean_user_text(None).problem == "empty"
    assert clean_user_text("///").problem == "empty"


def test_oversized_message_is_refused_not_truncated() -> None:
    assert clean_user_text("ا" * 10_000).problem == "too_long"
    assert clean_user_text("ا" * MAX_TEXT_CHARS).problem is None


def test_control_characters_are_dropped() -> None:
    assert clean_user_text("مرحبا\x00\x07").text == "مرحبا"


def test_button_payloads_are_recognised() -> None:
    assert is_button_payload("/complain")
    assert is_button_payload('/inform{"sector": "health"}')
    assert not is_button_payload("complain")
    assert not is_button_payload("/Complain now")


# --- typed commands never reach Rasa as commands (issue 10 item 2) ---------------------------

ATTACKS = [
    "/affirm",
    "/ /affirm",
    "//affirm",
    "/\n/human_handoff",
    '/ /inform{"sector":"health"}',
    "/\t/\r\n/affirm",
    "/\u00a0/affirm",  # no-break space
    "/\u2003/affirm",  # em space
    "/\u3000/affirm",  # ideographic space
    "/\u2028/affirm",  # line separator
    "/\u200b/affirm",  # zero width space (not whitespace to Python)
    "\u200f/affirm",  # right-to-left mark first
    "\ufeff/affirm",  # byte order mark
    "/\u00ad/affirm",  # soft hyphen
    "\x00/\x07/affirm",
    "\uff0f/affirm",  # fullwidth solidus, "/" under NFKC
    " / / / /human_handoff@1.0",
]


def rasa_reads_as_command(text: str) -> bool:
    """What Rasa does with a UserMessage's text: strip, then RegexMessageHandler's unpacking."""
    stripped = text.strip()  # rasa.core.channels.channel.UserMessage.__init__
    parsed = YAMLStoryReader.unpack_regex_message(Message({TEXT: stripped}))
    return stripped.startswith("/") or parsed.get(INTENT) is not None


def test_every_typed_command_goes_to_nlu() -> None:
    for attack in ATTACKS:
        out = clean_user_text(attack)
        assert out.problem is None, attack
        assert not rasa_reads_as_command(out.text), attack
        assert "affirm" in out.text or "human_handoff" in out.text or "inform" in out.text


def test_only_noise_is_empty() -> None:
    for noise in ["/ /", "/\u200b/\u00a0", "\n/\n", "\uff0f"]:
        assert clean_user_text(noise).problem == "empty"


def test_text_after_the_first_visible_character_is_kept() -> None:
    assert clean_user_text("  شكوى / اقتراح  ").text == "شكوى / اقتراح"
    assert clean_user_text("1/2 the road").text == "1/2 the road"


def test_huge_input_is_refused_before_any_work() -> None:
    assert clean_user_text("/" * 200_000).problem == "too_long"
    assert clean_user_text("ا" * 200_000).problem == "too_long"


_NOISE = st.sampled_from(
    ["/", "\uff0f", "\u2044", " ", "\n", "\t", "\r", "\u00a0", "\u2003", "\u3000", "\u2028", "\u2029", "\u200b",
     "\u200e", "\u200f", "\ufeff", "\u00ad", "\x00", "\x1f", "\x85", "\u0301"]
)
_COMMAND = st.sampled_from(["affirm", "human_handoff", 'inform{"sector":"health"}', "deny@1.0", "x"])


@settings(derandomize=True, max_examples=400)
@given(prefix=st.lists(_NOISE, max_size=12).map("".join), command=_COMMAND, tail=st.text(max_size=20))
def test_property_no_cleaned_text_is_a_command(prefix: str, command: str, tail: str) -> None:
    out = clean_user_text(prefix + command + tail)
    assert not out.text.strip().startswith("/")
    assert not rasa_reads_as_command(out.text)


@settings(derandomize=True, max_examples=400)
@given(st.text(max_size=60))
def test_property_any_text_is_never_a_command(raw: str) -> None:
    out = clean_user_text(raw)
    assert not out.text.strip().startswith("/")
    assert strip_command_prefix(out.text) == out.text  # cleaning is idempotent at the front
