"""b64cmd: a Lanner extractor on syscall events, written in Python (componentize-py).

Attackers hide commands from simple string rules by passing them base64-encoded
(`echo Y2F0IC9ldGMvc2hhZG93 | base64 -d | sh`). This plugin decodes the base64 words of
a process's command line, so rules can test what they say.

Fields (syscall events; the command line is the payload's thread.cmdline):
- b64cmd.decoded: the decoded text of every word of the command line that is base64 of
  printable UTF-8 (at least 8 characters), joined by spaces; missing when there is none.
- b64cmd.found: whether there is such a word.

Build: componentize-py -d ../../wit -w extractor componentize app -o b64cmd.wasm
"""

import base64
import binascii
import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import types

FIELDS = [
    types.FieldDecl("b64cmd.decoded", types.FieldType.STRING, types.ArgKind.NONE,
                    "Decoded text of the base64 words of the process's command line, e.g. cat /etc/shadow"),
    types.FieldDecl("b64cmd.found", types.FieldType.BOOL, types.ArgKind.NONE,
                    "True if the process's command line has a base64 word that decodes to text"),
]

MIN_LEN = 8


def decode_word(word):
    """The text a word encodes, or None when it is not base64 of printable UTF-8."""
    word = word.strip("'\"")
    if len(word) < MIN_LEN or len(word) % 4 != 0:
        return None
    try:
        text = base64.b64decode(word, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if not text or not all(c.isprintable() or c in "\n\t" for c in text):
        return None
    return text


def decoded(cmdline):
    found = [t for t in (decode_word(w) for w in cmdline.split()) if t is not None]
    return " ".join(found) if found else None


class Plugin(exports.Plugin):
    def info(self) -> types.PluginInfo:
        return types.PluginInfo(
            name="b64cmd",
            version="0.1.0",
            api_version="0.1.0",
            description="Base64-encoded words of command lines, decoded (a Python plugin on syscall events)",
            config_schema='{"type": "object", "additionalProperties": false}',
        )

    def init(self, config: str) -> None:
        pass


class FieldExtractor(exports.FieldExtractor):
    def fields(self):
        return FIELDS

    def event_sources(self):
        return ["syscall"]

    def extract(self, events, requests):
        out = []
        for ev in events:
            text = None
            if ev.source == "syscall":
                try:
                    payload = json.loads(ev.data)
                    cmdline = payload.get("thread", {}).get("cmdline")
                    if isinstance(cmdline, str):
                        text = decoded(cmdline)
                except ValueError:
                    pass
            for r in requests:
                if r.field == 0:
                    out.append(None if text is None else types.Value_Str(text))
                elif r.field == 1:
                    out.append(types.Value_Boolean(text is not None))
                else:
                    raise Err(f"no field with index {r.field}")
        return out
