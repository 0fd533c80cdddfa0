"""jsonkeys: a Lanner extractor written in Python, built with componentize-py.

Fields over JSON payloads:
- jsonkeys.list: the top-level keys of the object, sorted.
- jsonkeys.count: how many there are.
- jsonkeys.has[KEY]: whether KEY is a top-level key.

Build: componentize-py -d ../../wit -w extractor componentize app -o jsonkeys.wasm
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import host, types

FIELDS = [
    types.FieldDecl("jsonkeys.list", types.FieldType.STRING_LIST, types.ArgKind.NONE, "Top-level keys of the JSON object, sorted"),
    types.FieldDecl("jsonkeys.count", types.FieldType.UINT64, types.ArgKind.NONE, "How many top-level keys the JSON object has"),
    types.FieldDecl("jsonkeys.has", types.FieldType.BOOL, types.ArgKind.KEY, "Whether the JSON object has this top-level key"),
]


class Plugin(exports.Plugin):
    def info(self) -> types.PluginInfo:
        return types.PluginInfo(
            name="jsonkeys",
            version="0.1.0",
            api_version="0.1.0",
            description="Top-level keys of JSON payloads (a Python plugin)",
            config_schema='{"type": "object", "additionalProperties": false}',
        )

    def init(self, config: str) -> None:
        if config.strip():
            try:
                json.loads(config)
            except ValueError as e:
                raise Err(f"configuration: {e}")
        host.log(types.LogLevel.DEBUG, "jsonkeys ready")


class FieldExtractor(exports.FieldExtractor):
    def fields(self):
        return FIELDS

    def event_sources(self):
        return []

    def extract(self, events, requests):
        out = []
        for ev in events:
            try:
                doc = json.loads(ev.data)
            except ValueError:
                doc = None
            for r in requests:
                if not isinstance(doc, dict):
                    out.append(None)
                elif r.field == 0:
                    out.append(types.Value_StrList(sorted(doc.keys())))
                elif r.field == 1:
                    out.append(types.Value_Uint(len(doc)))
                elif r.field == 2:
                    out.append(types.Value_Boolean(r.arg in doc))
                else:
                    raise Err(f"no field with index {r.field}")
        return out
