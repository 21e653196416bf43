"""The settings the dialog shows: each field (its config key, label, editor kind and help), grouped in sections and
pages. A new setting is one Field here; the dialog builds its editor and checks it with the config's rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Field:
    section: str
    key: str
    label: str
    # "text", "folder", "int", "float", "choice", "mic", "bool", "voice", "language_voices", "speaker", "rate", "url",
    # or "secret" (the API key: kept in the OS keyring, never a setting; see SettingsViewModel.store_api_key)
    kind: str
    choices: tuple[tuple[str, str], ...] = ()  # (value, label) for "choice"
    help: str = ""
    check_text: str = ""  # for "bool": the check box's own text

    @property
    def name(self) -> str:
        return f"{self.section}.{self.key}" if self.section else self.key


SECTIONS: tuple[tuple[str, tuple[Field, ...]], ...] = (
    (
        "Model",
        (
            Field(
                "model",
                "id",
                "Model",
                "folder",
                help="A Hugging Face id such as mistralai/Voxtral-Mini-3B-2507, or a local folder.\n"
                "Changing the model, device or precision reloads it in the background.",
            ),
            Field(
                "model",
                "device",
                "Device",
                "choice",
                (
                    ("auto", "Automatic (GPU when there is one)"),
                    ("cpu", "CPU"),
                    ("cuda", "NVIDIA GPU (CUDA)"),
                    ("mps", "Apple GPU (MPS)"),
                ),
            ),
            Field(
                "model",
                "dtype",
                "Precision",
                "choice",
                (
                    ("auto", "Automatic"),
                    ("float32", "float32"),
                    ("bfloat16", "bfloat16"),
                    ("float16", "float16"),
                ),
            ),
        ),
    ),
    (
        "Engine",
        (
            Field(
                "",
                "backend",
                "Run Voxtral",
                "choice",
                (
                    ("auto", "On this computer, the fastest engine here"),
                    ("local", "On this computer, with transformers (GPU)"),
                    ("llamacpp", "On this computer, with llama.cpp (CPU)"),
                    ("mistral", "Mistral API (needs only an API key)"),
                    ("openai", "On a server (vLLM, any OpenAI-compatible API)"),
                ),
                help="A server answers fast without a GPU here. Mistral API: Voxtral Small hears you,\n"
                "nothing to download; create a key at console.mistral.ai.",
            ),
            Field(
                "remote",
                "api_key",
                "API key",
                "secret",
                help="Kept in the system keyring, never in the settings file. VOXTRAL_API_KEY or\n"
                "MISTRAL_API_KEY in the environment take precedence. Leave empty to keep the stored one.",
            ),
            Field("remote", "base_url", "Server address", "url", help="For example http://127.0.0.1:8000/v1"),
            Field(
                "remote",
                "model",
                "Server model",
                "text",
                help="vLLM: the served model id, e.g. mistralai/Voxtral-Mini-3B-2507",
            ),
            Field(
                "remote",
                "audio_format",
                "Audio sent as",
                "choice",
                (("audio_url", "audio_url (vLLM)"), ("input_audio", "input_audio (OpenAI format)"), ("mistral", "Mistral's API")),
            ),
            Field("remote", "timeout_s", "Server timeout (s)", "float"),
        ),
    ),
    (
        "Replies",
        (
            Field("streaming", "max_new_tokens", "Longest reply (tokens)", "int"),
            Field(
                "streaming", "temperature", "Temperature", "float", help="0 always picks the likeliest words."
            ),
            Field("streaming", "top_p", "Top-p", "float"),
            Field("streaming", "chunk_size_words", "Words per chunk", "int"),
            Field(
                "streaming",
                "timeout_ms",
                "Give up after (ms)",
                "int",
                help="How long to wait for more words before giving up on a reply.",
            ),
        ),
    ),
    (
        "Conversation",
        (
            Field(
                "conversation",
                "max_turns",
                "Memory (exchanges)",
                "int",
                help="Earlier exchanges sent with each turn, so Voxtral remembers them.\n"
                "0 forgets everything; more remembers longer but answers more slowly.",
            ),
            Field(
                "conversation",
                "show_transcript",
                "Show what I said",
                "bool",
                check_text="Write out my spoken turns in my bubble",
            ),
            Field(
                "conversation",
                "keep_audio",
                "Recordings",
                "bool",
                check_text="Keep my recordings in the history",
                help="Off: only the text of a conversation is stored on this computer.",
            ),
        ),
    ),
    (
        "Spoken replies",
        (
            Field(
                "speech", "enabled", "Speak replies", "bool", check_text="Read replies aloud as they arrive"
            ),
            Field(
                "speech",
                "voice",
                "Voice",
                "voice",
                help="Natural voices run on this computer; one not yet here downloads once (a "
                "few dozen MB).",
            ),
            Field(
                "speech",
                "follow_language",
                "Languages",
                "bool",
                check_text="Speak each sentence with the voice for its language",
                help="A French sentence in a reply is read by the French voice below.",
            ),
            Field(
                "speech",
                "language_voices",
                "Voice per language",
                "language_voices",
                help="Automatic: a voice of that language on this computer, else the main voice (said once).\n"
                "A voice not yet here downloads the first time a reply needs it.",
            ),
            Field("speech", "output_device", "Speaker", "speaker"),
            Field("speech", "rate", "Speed (system voice)", "rate"),
        ),
    ),
    (
        "Microphone",
        (
            Field("audio", "input_device", "Microphone", "mic"),
            Field(
                "audio",
                "speech_threshold",
                "Speech threshold",
                "float",
                help="Input level (RMS, full scale 1.0) that counts as speech.\nRaise it in a noisy room.",
            ),
        ),
    ),
)
LISTENING = (
    "Listening",
    (
        Field(
            "listening",
            "mode",
            "How a turn starts",
            "choice",
            (("push_to_talk", "Push to talk (hold the button or Space)"), ("hands_free", "Hands-free")),
            help="Hands-free: the microphone stays open and your turn is sent when you stop speaking.\n"
            "Also the switch above the talk button; voxtral-desktop --hands-free starts in it.",
        ),
        Field(
            "listening",
            "end_of_turn_ms",
            "End of turn (ms)",
            "int",
            help="Hands-free: this much silence ends your turn and sends it (200-5000).",
        ),
        Field(
            "listening",
            "barge_in",
            "Interrupt by voice",
            "bool",
            check_text="Speaking over a reply stops it (hands-free)",
            help="What you say then becomes the next turn.",
        ),
        Field(
            "listening",
            "push_to_talk_barge_in",
            "",
            "bool",
            check_text="In push-to-talk too (the microphone is open while a reply plays)",
        ),
        Field(
            "listening",
            "min_barge_in_ms",
            "Speech to interrupt (ms)",
            "int",
            help="How long you must speak before a reply stops: a cough should not stop it.",
        ),
        Field(
            "listening",
            "echo_cancellation",
            "Echo cancellation",
            "bool",
            check_text="Remove the assistant's own voice from the microphone",
            help="Needed with speakers; turn it off with a headset.",
        ),
    ),
)
DESKTOP = (
    "Desktop",
    (
        Field(
            "shortcuts",
            "push_to_talk",
            "Push-to-talk shortcut",
            "text",
            help="Hold it in any application to talk; let go to send. Ctrl, Alt, Shift or Super, then a key.\n"
            "On Wayland your desktop asks once to allow it (and may let you pick another).",
        ),
        Field(
            "shortcuts",
            "hands_free",
            "Hands-free shortcut",
            "text",
            help="Turns hands-free listening on or off from any application.",
        ),
        Field(
            "desktop",
            "hide_to_tray",
            "Closing the window",
            "bool",
            check_text="Keep running in the tray",
            help="The shortcuts and the tray icon keep working; quit from the tray's menu or with Ctrl+Q.",
        ),
        Field(
            "desktop",
            "notifications",
            "Notifications",
            "bool",
            check_text="Show a reply as a notification while the window is hidden",
            help="Clicking the notification opens the conversation.",
        ),
        Field(
            "desktop",
            "autostart",
            "Start with the session",
            "bool",
            check_text="Start when I log in, hidden in the tray",
            help="Writes ~/.config/autostart/voxtral-desktop.desktop; turning it off removes it.",
        ),
    ),
)
LLAMACPP = (
    "llama.cpp",
    (
        Field(
            "llamacpp",
            "quantization",
            "Model size",
            "choice",
            (
                ("Q4_K_M", "Q4_K_M · 2.5 GB (recommended)"),
                ("Q8_0", "Q8_0 · 4.3 GB (closer to the original)"),
                ("F16", "F16 · 8 GB (the original precision)"),
            ),
            help="The GGUF file llama.cpp runs (with a 0.7 GB audio part). Smaller answers sooner.",
        ),
        Field("llamacpp", "threads", "Threads", "int", help="CPU threads llama.cpp uses; 0 lets it choose."),
        Field(
            "llamacpp",
            "server",
            "llama-server",
            "text",
            help="Optional: a llama-server program of your own to run instead of the built-in engine.",
        ),
    ),
)
SECTIONS = (*SECTIONS, LISTENING, DESKTOP, LLAMACPP)
FIELDS: tuple[Field, ...] = tuple(f for _, fields in SECTIONS for f in fields)
# What only a server of one's own needs: hidden when the Mistral API preset fills it in.
SERVER_ONLY = ("remote.base_url", "remote.model", "remote.audio_format")
# Rows about any server (Mistral's or one's own): hidden while Voxtral runs on this computer.
ANY_SERVER = ("remote.api_key", "remote.timeout_s")
LOCAL_ENGINES = ("auto", "local", "llamacpp")
# Sections shown together, one page at a time: the whole list is too tall for a laptop screen.
PAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Model & replies", ("Model", "Replies")),
    ("Conversation", ("Conversation",)),
    ("Voice", ("Spoken replies",)),
    ("Microphone & listening", ("Microphone", "Listening")),
    ("Engine", ("Engine", "llama.cpp")),
    ("Desktop", ("Desktop",)),
)


def parse(field: Field, text: str) -> Any:
    """The typed value for ``text``; unparsable text is passed on as is so the config explains the problem."""
    text = text.strip()
    try:
        if field.kind == "int":
            return int(text)
        if field.kind == "float":
            return float(text)
    except ValueError:
        return text
    return text


def field_named(name: str) -> Field:
    """The field for ``section.key`` (or a top-level key)."""
    return next(f for f in FIELDS if f.name == name)
