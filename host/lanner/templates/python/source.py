"""{{name}}: a Lanner source written in Python, built with componentize-py.

Its open parameters are messages separated by commas (`hello,world`); the stream gives one
event per message, whose payload is the message, then ends. Rules read them with
`source: {{name}}` and the field
- {{name}}.message: the event's message.

Build: ./build.sh (componentize-py -d wit -w source componentize app -o {{name}}.wasm)
"""

import time

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import event_source
from wit_world.imports import types

MESSAGE = 0


class Plugin(exports.Plugin):
    def info(self) -> types.PluginInfo:
        return types.PluginInfo(
            name="{{name}}",
            version="0.1.0",
            api_version="0.1.0",
            description="{{description}}",
            config_schema='{"type": "object", "additionalProperties": false}',
        )

    def init(self, config: str) -> None:
        pass


class FieldExtractor(exports.FieldExtractor):
    def fields(self):
        return [types.FieldDecl("{{name}}.message", types.FieldType.STRING, types.ArgKind.NONE,
                                "The event's message")]

    def event_sources(self):
        # Only its own events: an empty list would mean every source, syscall included.
        return ["{{name}}"]

    def extract(self, events, requests):
        out = []
        for event in events:
            for r in requests:
                if r.field != MESSAGE:
                    raise Err(f"no field with index {r.field}")
                out.append(types.Value_Str(event.data.decode("utf-8", "replace")))
        return out


class Messages(event_source.EventStream):
    """The messages not read yet; an empty batch ends the stream (interface 0.1.0)."""

    def __init__(self, messages):
        self.messages = messages

    def next_batch(self, max: int):
        batch, self.messages = self.messages[:max], self.messages[max:]
        now = time.time_ns()
        return [types.Event("{{name}}", now, m.encode()) for m in batch]


class EventSource(exports.EventSource):
    def source_name(self) -> str:
        return "{{name}}"

    def open(self, params: str) -> event_source.EventStream:
        messages = [m.strip() for m in params.split(",") if m.strip()]
        if not messages:
            raise Err(f"open parameters {params!r}: give messages separated by commas, such as hello,world")
        return Messages(messages)
