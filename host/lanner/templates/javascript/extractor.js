// {{name}}: a Lanner extractor written in JavaScript, built with ComponentizeJS (through jco).
//
// Its fields serve rules of every source (eventSources is empty), syscall events included,
// whose payload is a JSON object (docs/plugins.md, "Syscall events"):
// - {{name}}.argc: how many arguments the process's command line has (its words after the
//   first), for syscall events;
// - {{name}}.size: the payload's size in bytes, for events of every source.
//
// Build: ./build.sh (jco componentize plugin.js --wit wit --world-name extractor --out {{name}}.wasm)

import { log } from 'lanner:plugin/host@0.1.0';

const ARGC = 0;
const SIZE = 1;

const FIELDS = [
  {
    name: '{{name}}.argc',
    type: 'uint64',
    arg: 'none',
    description: "How many arguments the process's command line has (syscall events)",
  },
  { name: '{{name}}.size', type: 'uint64', arg: 'none', description: "The event payload's size in bytes" },
];

const decoder = new TextDecoder();

// The number of arguments of a syscall event's command line, or undefined.
function argc(event) {
  if (event.source !== 'syscall') return undefined;
  try {
    const cmdline = JSON.parse(decoder.decode(event.data))?.thread?.cmdline;
    if (typeof cmdline !== 'string') return undefined;
    const words = cmdline.split(/\s+/).filter((w) => w !== '');
    return Math.max(words.length - 1, 0);
  } catch {
    return undefined;
  }
}

// `result<_, string>` errors are thrown strings; anything else thrown would be a trap.
function fail(message) {
  throw String(message);
}

export const plugin = {
  info() {
    return {
      name: '{{name}}',
      version: '0.1.0',
      apiVersion: '0.1.0',
      description: '{{description}}',
      configSchema: JSON.stringify({ type: 'object', additionalProperties: false }),
    };
  },

  init(_config) {
    log('debug', 'ready');
  },
};

export const fieldExtractor = {
  fields() {
    return FIELDS;
  },

  eventSources() {
    return [];
  },

  extract(events, requests) {
    const out = [];
    const wantArgc = requests.some((r) => r.field === ARGC);
    for (const event of events) {
      const n = wantArgc ? argc(event) : undefined;
      for (const r of requests) {
        if (r.field === ARGC) out.push(n === undefined ? undefined : { tag: 'uint', val: BigInt(n) });
        else if (r.field === SIZE) out.push({ tag: 'uint', val: BigInt(event.data.length) });
        else fail(`no field with index ${r.field}`);
      }
    }
    return out;
  },
};
