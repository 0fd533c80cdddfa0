"""{{name}}: a Lanner extractor written in Python, built with componentize-py.

Its fields serve rules of every source (event_sources is empty), syscall events included,
whose payload is a JSON object (docs/plugins.md, "Syscall events"):
- {{name}}.argc: how many arguments the process's command line has (its words after the
  first), for syscall events;
- {{name}}.size: the payload's size in bytes, for events of every source.

Build: ./build.sh (componentize-py -d wit -w extractor componentize app -o {{name}}.wasm)
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import host, types

ARGC = 0
SIZE = 1

FIELDS = [
    types.FieldDecl("{{name}}.argc", types.FieldType.UINT64, types.ArgKind.NONE,
                    "How many arguments the process's command line has (syscall events)"),
    types.FieldDecl("{{name}}.size", types.FieldType.UINT64, types.ArgKind.NONE,
                    "The event payload's size in bytes"),
]


def argc(event):
    """The number of arguments of a syscall event's command line, or None."""
    if event.source != "syscall":
        return None
    try:
        cmdline = json.loads(event.data).get("thread", {}).get("cmdline")
    except ValueError:
        return None
    if not isinstance(cmdline, str):
        return None
    return max(len(cmdline.split()) - 1, 0)


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
        host.log(types.LogLevel.DEBUG, "ready")


class FieldExtractor(exports.FieldExtractor):
    def fields(self):
        return FIELDS

    def event_sources(self):
        return []

    def extract(self, events, requests):
        out = []
        for event in events:
            n = argc(event) if any(r.field == ARGC for r in requests) else None
            for r in requests:
                if r.field == ARGC:
                    out.append(None if n is None else types.Value_Uint(n))
                elif r.field == SIZE:
                    out.append(types.Value_Uint(len(event.data)))
                else:
                    raise Err(f"no field with index {r.field}")
        return out
