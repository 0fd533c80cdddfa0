#!/usr/bin/env python3
"""Which fields of Falco's upstream rules Lanner answers live, and which rules can fire live.

Usage: bench/field_coverage.py LANNER STABLE [EXTRA ...]
  LANNER  the lanner binary; STABLE falco_rules.yaml; each EXTRA (incubating, sandbox) is
  loaded after STABLE, as Falco loads them. Prints, per file: the fields its rules use
  (conditions and outputs), how many live capture answers (`lanner list-fields --json`,
  `filled`), and how many of its rules can fire live (no LOAD_UNFILLED_FIELD,
  LOAD_PLUGIN_FIELD_SOURCE or LOAD_UNCAPTURED_EVTTYPE warning from `lanner validate`), with
  the fields and rules that cannot. The plugins loaded are the default ones (the container
  plugin when installed) and those of LANNER_PLUGINS_DIR.
"""
import json
import os
import re
import subprocess
import sys

CANNOT_FIRE = {"LOAD_UNFILLED_FIELD", "LOAD_PLUGIN_FIELD_SOURCE", "LOAD_UNCAPTURED_EVTTYPE"}


def lanner(binary, *args):
    extra = []
    if os.environ.get("LANNER_PLUGINS_DIR"):
        extra = ["--plugins-dir", os.environ["LANNER_PLUGINS_DIR"]]
    out = subprocess.run([binary, *args, *extra], capture_output=True, text=True)
    return json.loads(out.stdout)


def base(field, known):
    """The registered field a use names: `proc.aname[2]` is proc.aname, `evt.arg.flags`
    is evt.arg (an argument after a dot)."""
    name = re.sub(r"\[.*\]$", "", field)
    while name not in known and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def main():
    binary, stable, extras = sys.argv[1], sys.argv[2], sys.argv[3:]
    fields = {f["name"]: f.get("filled") for f in lanner(binary, "list-fields", "--json")["fields"]}
    live = {n for n, s in fields.items() if s and s != "never" and ("syscall" in s.split(",") or s == "any")}
    for target in [stable, *extras]:
        files = [stable] if target == stable else [stable, target]
        args = [a for f in files for a in ("-r", f)]
        rules = [r for r in lanner(binary, "list-rules", *args, "--json")["rules"]
                 if os.path.basename(r["details"]["file"]) == os.path.basename(target)]
        used = set()
        for r in rules:
            d = r["details"]
            used |= {base(f, fields) for f in d["condition_fields"] + d["output_fields"] + d["exception_fields"]}
        validation = lanner(binary, "validate", *args, "--json")
        dead = {}
        for res in validation["falco_load_results"]:
            for w in res.get("warnings", []):
                if w["code"] in CANNOT_FIRE and "can never fire" in w["message"]:
                    # Falco's locations start with the whole file ("rules content").
                    loc = next((l for l in w["context"]["locations"] if l["item_type"] == "rule"),
                               w["context"]["locations"][-1])
                    if os.path.basename(loc.get("file", res["name"])) == os.path.basename(target):
                        dead.setdefault(loc["item_name"], []).append(w["message"])
        missing = sorted(f for f in used if f not in live)
        name = os.path.basename(target)
        print(f"{name}: {len(used)} fields used, {len(used) - len(missing)} answered live; "
              f"{len(rules) - len(dead)} of {len(rules)} rules can fire live")
        if missing:
            print(f"  not answered live: {', '.join(missing)}")
        for rule, why in sorted(dead.items()):
            print(f"  cannot fire: {rule}: {'; '.join(sorted(set(why)))}")


if __name__ == "__main__":
    main()
