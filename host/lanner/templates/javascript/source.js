// {{name}}: a Lanner source written in JavaScript, built with ComponentizeJS (through jco).
//
// Its open parameters are messages separated by commas (`hello,world`); the stream gives one
// event per message, whose payload is the message, then ends. Rules read them with
// `source: {{name}}` and the field
// - {{name}}.message: the event's message.
//
// Build: ./build.sh (jco componentize plugin.js --wit wit --world-name source --out {{name}}.wasm)

const MESSAGE = 0;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

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

  init(_config) {},
};

export const fieldExtractor = {
  fields() {
    return [{ name: '{{name}}.message', type: 'string', arg: 'none', description: "The event's message" }];
  },

  // Only its own events: an empty list would mean every source, syscall included.
  eventSources() {
    return ['{{name}}'];
  },

  extract(events, requests) {
    const out = [];
    for (const event of events) {
      for (const r of requests) {
        if (r.field !== MESSAGE) fail(`no field with index ${r.field}`);
        out.push({ tag: 'str', val: decoder.decode(event.data) });
      }
    }
    return out;
  },
};

// The messages not read yet; an empty batch ends the stream (interface 0.1.0).
class EventStream {
  constructor(messages) {
    this.messages = messages;
  }

  nextBatch(max) {
    const batch = this.messages.splice(0, max);
    const now = BigInt(Date.now()) * 1000000n;
    return batch.map((m) => ({ source: '{{name}}', timestampNs: now, data: encoder.encode(m) }));
  }
}

export const eventSource = {
  EventStream,

  sourceName() {
    return '{{name}}';
  },

  open(params) {
    const messages = params
      .split(',')
      .map((m) => m.trim())
      .filter((m) => m !== '');
    if (messages.length === 0) fail(`open parameters "${params}": give messages separated by commas, such as hello,world`);
    return new EventStream(messages);
  },
};
