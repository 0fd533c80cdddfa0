"""{{name}}: a Lanner sink written in Python, built with componentize-py.

It appends each alert it receives to a file, one line per alert (`TIME PRIORITY RULE:
OUTPUT`, newlines in the output written as `\\n`). The file is named by its configuration
(`{"path": "/out/alerts.log"}`), a path inside a folder granted with `grants.dirs`, `mode: rw`.

Build: ./build.sh (componentize-py -d wit -w sink componentize app -o {{name}}.wasm)
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import types

path = None


class Plugin(exports.Plugin):
    def info(self) -> types.PluginInfo:
        return types.PluginInfo(
            name="{{name}}",
            version="0.1.0",
            api_version="0.1.0",
            description="{{description}}",
            config_schema=json.dumps({
                "type": "object",
                "properties": {"path": {"type": "string"}},
                "required": ["path"],
                "additionalProperties": False,
            }),
        )

    def init(self, config: str) -> None:
        global path
        try:
            path = json.loads(config)["path"]
        except (ValueError, KeyError, TypeError) as e:
            raise Err(f"configuration: {e}")


class AlertSink(exports.AlertSink):
    def deliver(self, alerts) -> None:
        lines = []
        for a in alerts:
            output = a.output.replace("\\", "\\\\").replace("\n", "\\n")
            lines.append(f"{a.time_ns} {a.priority} {a.rule}: {output}\n")
        try:
            # Opened per batch: a file removed or rotated in between is made again.
            with open(path, "a") as f:
                f.write("".join(lines))
        except OSError as e:
            raise Err(f"writing {path}: {e}")
