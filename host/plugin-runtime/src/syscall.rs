//! Syscall events as extractor plugins receive them: a JSON payload (version 1) built from
//! the event's fields, so that a plugin in any language reads the event type, its parameters
//! and its thread's state with the JSON library it already has.
//!
//! The payload is built from [`Event`] fields only, never from capture's records: live
//! capture, raw replays and event files give a plugin the same bytes for the same event.
//! The format is documented in `docs/plugins.md` ("Syscall events") and is append-only:
//! members may be added, none renamed or removed, while `v` is 1.

use lanner_event::{Event, FieldArg, FieldId, FieldRef, FieldRegistry, Value};
use std::fmt::Write;

/// The payload's version, its `v` member.
pub const PAYLOAD_VERSION: u32 = 1;

/// The members of `thread`, and the field each is read from.
const THREAD: &[(&str, &str)] = &[
    ("tid", "thread.tid"),
    ("pid", "proc.pid"),
    ("ppid", "proc.ppid"),
    ("vpid", "proc.vpid"),
    ("name", "proc.name"),
    ("exe", "proc.exe"),
    ("exepath", "proc.exepath"),
    ("cmdline", "proc.cmdline"),
    ("cwd", "proc.cwd"),
    ("uid", "user.uid"),
    ("gid", "group.gid"),
    ("loginuid", "user.loginuid"),
    ("tty", "proc.tty"),
    ("container_id", "container.id"),
];

/// The members of `fd`.
const FD: &[(&str, &str)] = &[("num", "fd.num"), ("name", "fd.name"), ("type", "fd.type")];

/// The top-level members read from fields.
const TOP: &[(&str, &str)] =
    &[("type", "evt.type"), ("dir", "evt.dir"), ("num", "evt.num"), ("res", "evt.rawres")];

/// Builds payloads; the field ids are resolved once per registry.
#[derive(Debug, Clone)]
pub struct PayloadBuilder {
    top: Vec<(&'static str, FieldId)>,
    thread: Vec<(&'static str, FieldId)>,
    fd: Vec<(&'static str, FieldId)>,
    arg: Option<FieldId>,
}

fn resolve(
    reg: &FieldRegistry,
    members: &'static [(&'static str, &'static str)],
) -> Vec<(&'static str, FieldId)> {
    members.iter().filter_map(|(k, f)| Some((*k, reg.get(f)?))).collect()
}

impl PayloadBuilder {
    /// Resolves the fields the payload is made of in `reg` (the syscall fields).
    pub fn new(reg: &FieldRegistry) -> Self {
        PayloadBuilder {
            top: resolve(reg, TOP),
            thread: resolve(reg, THREAD),
            fd: resolve(reg, FD),
            arg: reg.get("evt.arg"),
        }
    }

    /// The payload of one syscall event, appended to `out`.
    pub fn build<E: Event + ?Sized>(&self, ev: &E, out: &mut Vec<u8>) {
        let mut s = String::with_capacity(512);
        let get = |id: FieldId| ev.field(&FieldRef { id, arg: FieldArg::None });
        let _ = write!(s, "{{\"v\":{PAYLOAD_VERSION}");
        for (k, id) in &self.top {
            if let Some(v) = get(*id) {
                member(&mut s, k, &v);
            }
        }
        if let Some(arg) = self.arg {
            s.push_str(",\"args\":{");
            let mut first = true;
            for name in ev.param_names() {
                if let Some(v) = ev.field(&FieldRef { id: arg, arg: FieldArg::Key(name.as_ref().into()) }) {
                    if !first {
                        s.push(',');
                    }
                    first = false;
                    json_str(&mut s, &name);
                    s.push(':');
                    json_value(&mut s, &v);
                }
            }
            s.push('}');
        }
        object(&mut s, "thread", &self.thread, &get);
        // Events without an fd have no fd number: the member is left out.
        let fd_num = self.fd.first().and_then(|(_, id)| get(*id));
        if fd_num.is_some() {
            object(&mut s, "fd", &self.fd, &get);
        }
        s.push('}');
        out.extend_from_slice(s.as_bytes());
    }
}

fn object<'e>(
    s: &mut String,
    key: &str,
    members: &[(&'static str, FieldId)],
    get: &dyn Fn(FieldId) -> Option<Value<'e>>,
) {
    s.push(',');
    json_str(s, key);
    s.push_str(":{");
    let mut first = true;
    for (k, id) in members {
        if let Some(v) = get(*id) {
            if !first {
                s.push(',');
            }
            first = false;
            json_str(s, k);
            s.push(':');
            json_value(s, &v);
        }
    }
    s.push('}');
}

fn member(s: &mut String, k: &str, v: &Value<'_>) {
    s.push(',');
    json_str(s, k);
    s.push(':');
    json_value(s, v);
}

fn json_value(s: &mut String, v: &Value<'_>) {
    match v {
        Value::Str(t) => json_str(s, t),
        Value::Int(i) => {
            let _ = write!(s, "{i}");
        }
        Value::UInt(u) => {
            let _ = write!(s, "{u}");
        }
        Value::Bool(b) => s.push_str(if *b { "true" } else { "false" }),
        Value::Ip(ip) => json_str(s, &ip.to_string()),
        Value::Bytes(b) => json_str(s, &String::from_utf8_lossy(b)),
        Value::List(items) => {
            s.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                json_value(s, item);
            }
            s.push(']');
        }
    }
}

/// A JSON string: quotes, and the escapes RFC 8259 requires (`"`, `\\`, control
/// characters), written straight into the buffer.
fn json_str(s: &mut String, t: &str) {
    s.push('"');
    let mut start = 0;
    for (i, b) in t.bytes().enumerate() {
        let esc = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        s.push_str(&t[start..i]);
        if esc.is_empty() {
            let _ = write!(s, "\\u{b:04x}");
        } else {
            s.push_str(esc);
        }
        start = i + 1;
    }
    s.push_str(&t[start..]);
    s.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use lanner_event::EventTypeId;
    use std::borrow::Cow;

    struct Ev(FieldRegistry);
    impl Event for Ev {
        fn source(&self) -> &str {
            "syscall"
        }
        fn event_type(&self) -> EventTypeId {
            0
        }
        fn timestamp_ns(&self) -> u64 {
            0
        }
        fn param_names(&self) -> Vec<Cow<'_, str>> {
            vec!["name".into(), "flags".into(), "missing".into()]
        }
        fn field(&self, f: &FieldRef) -> Option<Value<'_>> {
            let name = self.0.def(f.id).name.as_ref();
            Some(match (name, &f.arg) {
                ("evt.type", _) => Value::Str("openat".into()),
                ("evt.rawres", _) => Value::Int(-2),
                ("evt.arg", FieldArg::Key(k)) if &**k == "name" => Value::Str("/etc/\"q\"".into()),
                ("evt.arg", FieldArg::Key(k)) if &**k == "flags" => Value::Str("O_RDONLY".into()),
                ("proc.pid", _) => Value::Int(42),
                ("proc.name", _) => Value::Str("cat".into()),
                ("container.id", _) => Value::Str("host".into()),
                _ => return None,
            })
        }
    }

    #[test]
    fn strings_escape_as_json() {
        for t in ["plain", "q\"uote", "back\\slash", "nl\n\ttab\r", "\u{1}\u{1f}", "é ü 日本", ""] {
            let mut s = String::new();
            json_str(&mut s, t);
            assert_eq!(serde_json::from_str::<String>(&s).unwrap(), t, "{s}");
        }
    }

    #[test]
    fn payload_is_json_with_what_the_event_answers() {
        let reg = FieldRegistry::with_syscall_fields();
        let b = PayloadBuilder::new(&reg);
        let mut out = Vec::new();
        b.build(&Ev(reg), &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
        assert_eq!(
            v,
            serde_json::json!({
                "v": 1, "type": "openat", "res": -2,
                "args": {"name": "/etc/\"q\"", "flags": "O_RDONLY"},
                "thread": {"pid": 42, "name": "cat", "container_id": "host"},
            })
        );
    }
}
