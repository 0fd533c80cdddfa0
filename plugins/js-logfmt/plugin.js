// logfmt: a Lanner extractor written in JavaScript, built with ComponentizeJS (through jco).
//
// Fields over events whose payload is logfmt text: `level=info msg="user logged in" admin`.
// - logfmt.value[KEY]: the value of KEY, as text ("" for a key without `=`), the first one
//   when KEY appears more than once; none when the payload has no KEY.
// - logfmt.has[KEY]: whether the payload has KEY.
// - logfmt.count: how many key/value pairs the payload has.
// A payload that is not logfmt (an unterminated quote, `=` without a key, text that is not
// UTF-8) has none of the fields.
//
// Configuration (JSON, validated by the host against CONFIG_SCHEMA):
// `{"sources": ["name", ...]}` reads only events of these sources (default: every source).
//
// Build (see package.json): npm run build, which runs
//   jco componentize plugin.js --wit ../../wit --world-name extractor --out logfmt.wasm

import { log } from 'lanner:plugin/host@0.1.0';

const CONFIG_SCHEMA = JSON.stringify({
  type: 'object',
  properties: { sources: { type: 'array', items: { type: 'string' } } },
  additionalProperties: false,
});

const VALUE = 0;
const HAS = 1;
const COUNT = 2;

const FIELDS = [
  {
    name: 'logfmt.value',
    type: 'string',
    arg: 'key',
    description: 'The value of the key in the logfmt payload ("" for a key without a value)',
  },
  { name: 'logfmt.has', type: 'bool', arg: 'key', description: 'Whether the logfmt payload has the key' },
  { name: 'logfmt.count', type: 'uint64', arg: 'none', description: 'How many key/value pairs the logfmt payload has' },
];

const ESCAPES = { '"': '"', '\\': '\\', n: '\n', r: '\r', t: '\t' };

// Parses logfmt text into a list of [key, value] pairs, or returns null when the text is not
// logfmt. Pairs are separated by spaces; a key is any run of characters but space, `=` and
// `"`; a value is either bare (up to the next space, without `"`) or quoted, with the
// escapes \" \\ \n \r \t.
function parse(text) {
  const pairs = [];
  const n = text.length;
  const space = (c) => c === ' ' || c === '\t' || c === '\n' || c === '\r';
  let i = 0;
  for (;;) {
    while (i < n && space(text[i])) i++;
    if (i >= n) return pairs;
    const start = i;
    while (i < n && !space(text[i]) && text[i] !== '=' && text[i] !== '"') i++;
    if (i === start) return null; // `=value` or a quote where a key should be
    const key = text.slice(start, i);
    if (i >= n || space(text[i])) {
      pairs.push([key, '']);
      continue;
    }
    if (text[i] === '"') return null; // a quote inside a key
    i++; // '='
    if (i < n && text[i] === '"') {
      i++;
      let value = '';
      for (;;) {
        if (i >= n) return null; // unterminated quote
        const c = text[i++];
        if (c === '"') break;
        if (c === '\\') {
          const e = i < n ? ESCAPES[text[i]] : undefined;
          if (e === undefined) return null;
          value += e;
          i++;
        } else {
          value += c;
        }
      }
      if (i < n && !space(text[i])) return null; // `k="a"b`
      pairs.push([key, value]);
    } else {
      const vstart = i;
      while (i < n && !space(text[i])) {
        if (text[i] === '"') return null;
        i++;
      }
      pairs.push([key, text.slice(vstart, i)]);
    }
  }
}

let sources = null;
const decoder = new TextDecoder('utf-8', { fatal: true });

function decode(bytes) {
  try {
    return decoder.decode(bytes);
  } catch {
    return null;
  }
}

// `result<_, string>` errors: ComponentizeJS turns a thrown value into the error, so the
// functions below catch everything and throw only strings, never a trap.
function fail(message) {
  throw String(message);
}

export const plugin = {
  info() {
    return {
      name: 'logfmt',
      version: '0.1.0',
      apiVersion: '0.1.0',
      description: 'Fields over events whose payload is logfmt text (a JavaScript plugin)',
      configSchema: CONFIG_SCHEMA,
    };
  },

  init(config) {
    let cfg = {};
    if (config.trim() !== '') {
      try {
        cfg = JSON.parse(config);
      } catch (e) {
        fail(`configuration: ${e.message}`);
      }
    }
    sources = Array.isArray(cfg.sources) && cfg.sources.length > 0 ? new Set(cfg.sources) : null;
    log('debug', sources ? `logfmt ready for ${[...sources].join(', ')}` : 'logfmt ready');
  },
};

function lookup(pairs, key) {
  for (const [k, v] of pairs) if (k === key) return v;
  return undefined;
}

export const fieldExtractor = {
  fields() {
    return FIELDS;
  },

  eventSources() {
    return sources ? [...sources] : [];
  },

  extract(events, requests) {
    for (const r of requests) {
      if (r.field !== VALUE && r.field !== HAS && r.field !== COUNT) fail(`no field with index ${r.field}`);
      if (r.field !== COUNT && typeof r.arg !== 'string') fail(`field ${FIELDS[r.field].name} needs a key`);
    }
    const out = [];
    try {
      for (const ev of events) {
        const text = sources && !sources.has(ev.source) ? null : decode(ev.data);
        const pairs = text === null ? null : parse(text);
        for (const r of requests) {
          if (pairs === null) {
            out.push(undefined);
          } else if (r.field === VALUE) {
            const v = lookup(pairs, r.arg);
            out.push(v === undefined ? undefined : { tag: 'str', val: v });
          } else if (r.field === HAS) {
            out.push({ tag: 'boolean', val: lookup(pairs, r.arg) !== undefined });
          } else {
            out.push({ tag: 'uint', val: BigInt(pairs.length) });
          }
        }
      }
    } catch (e) {
      fail(`extract: ${e && e.message ? e.message : e}`);
    }
    return out;
  },
};
