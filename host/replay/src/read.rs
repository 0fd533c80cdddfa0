use crate::event::{Derived, Recorded, RecordedEvent, arg_kind_ok, type_id};
use lanner_event::{FieldArg, FieldId, FieldRegistry, FieldType, SYSCALL_SOURCE, Value};
use serde_json::{Map, Value as Json};
use std::borrow::Cow;
use std::io::BufRead;

/// A line of an event file that is not a valid event.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be read.
    #[error("reading events: {0}")]
    Io(#[from] std::io::Error),
    /// A line is not a valid event.
    #[error("line {line}: {message}")]
    Invalid {
        /// The line number, from 1.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// Reads events line by line, skipping blank lines and `#` comments.
pub struct Reader<R> {
    input: R,
    registry: FieldRegistry,
    derived: Derived,
    line: usize,
    buf: String,
    count: u64,
}

impl<R: BufRead> Reader<R> {
    /// A reader whose events are typed by `registry`.
    pub fn new(input: R, registry: &FieldRegistry) -> Self {
        Reader {
            input,
            derived: Derived::new(registry),
            registry: registry.clone(),
            line: 0,
            buf: String::new(),
            count: 0,
        }
    }
}

impl<R> Reader<R> {
    /// The number (from 1) of the line last read: that of the event just returned.
    pub fn line(&self) -> usize {
        self.line
    }
}

impl<R: BufRead> Iterator for Reader<R> {
    type Item = Result<RecordedEvent, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            self.buf.clear();
            match self.input.read_line(&mut self.buf) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) => return Some(Err(e.into())),
            }
            self.line += 1;
            let text = self.buf.trim();
            if text.is_empty() || text.starts_with('#') {
                continue;
            }
            self.count += 1;
            return Some(
                parse_with(text, &self.registry, self.derived, self.count)
                    .map_err(|message| ReadError::Invalid { line: self.line, message }),
            );
        }
    }
}

/// Parses one event line; `num` is its sequence number unless the line gives `evt.num`.
pub fn parse_line(text: &str, registry: &FieldRegistry, num: u64) -> Result<RecordedEvent, String> {
    parse_with(text, registry, Derived::new(registry), num)
}

fn parse_with(text: &str, reg: &FieldRegistry, derived: Derived, num: u64) -> Result<RecordedEvent, String> {
    let json: Json = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let Json::Object(obj) = json else { return Err("an event must be a JSON object".into()) };
    for key in obj.keys() {
        if !KEYS.contains(&key.as_str()) {
            return Err(format!("unknown key '{key}' (expected {})", KEYS.join(", ")));
        }
    }
    let source = match obj.get("source") {
        None => SYSCALL_SOURCE.to_string(),
        Some(Json::String(s)) => s.clone(),
        Some(_) => return Err("'source' must be a string".into()),
    };
    let type_name = match obj.get("type") {
        Some(Json::String(s)) => s.clone(),
        None if source != SYSCALL_SOURCE => "pluginevent".to_string(),
        _ => return Err("'type' must be the event type's name, such as \"openat\"".into()),
    };
    let payload = payload(&obj, &source)?;
    let etype = type_id(&source, &type_name).ok_or_else(|| format!("unknown event type '{type_name}'"))?;
    let ts = match (obj.get("ts"), obj.get("time")) {
        (Some(t), _) => {
            t.as_u64().ok_or("'ts' must be nanoseconds since the epoch, a non-negative integer")?
        }
        (None, Some(Json::String(t))) => {
            lanner_event::parse_rfc3339(t).ok_or_else(|| format!("'time' is not RFC 3339 text: {t}"))?
        }
        (None, Some(_)) => return Err("'time' must be RFC 3339 text".into()),
        (None, None) => return Err("an event needs 'ts' (nanoseconds) or 'time' (RFC 3339)".into()),
    };
    let mut fields = Vec::new();
    let mut num = num;
    match obj.get("fields") {
        None => {}
        Some(Json::Object(map)) => {
            for (name, value) in map {
                let (id, arg) = field_key(reg, name)?;
                let ty = reg.def(id).ftype;
                let kind = reg.def(id).arg.kind;
                let rec = match (value, &arg) {
                    (Json::Array(items), FieldArg::None) if ty != FieldType::StringList => {
                        Recorded::Indexed(items.iter().map(|v| typed(v, ty, name)).collect::<Result<_, _>>()?)
                    }
                    (Json::Object(entries), FieldArg::None) => Recorded::Keyed(keyed(entries, ty, name)?),
                    _ => Recorded::Plain(typed(value, ty, name)?),
                };
                if !arg_kind_ok(kind, &arg) {
                    return Err(format!("field {name}: wrong kind of argument"));
                }
                if let (true, Recorded::Plain(Value::UInt(n))) = (Some(id) == derived.evt_num, &rec) {
                    num = *n;
                }
                fields.push((id, arg, rec));
            }
        }
        Some(_) => return Err("'fields' must be an object of field names to values".into()),
    }
    fields.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| arg_order(&a.1).cmp(&arg_order(&b.1))));
    if fields.len() >= u16::MAX as usize {
        return Err(format!("too many fields ({})", fields.len()));
    }
    let ids: Vec<FieldId> = fields.iter().map(|f| f.0).collect();
    let mut slots = vec![u16::MAX; ids.last().map_or(0, |id| id.0 as usize + 1)];
    for (i, id) in ids.iter().enumerate().rev() {
        slots[id.0 as usize] = i as u16;
    }
    let values = fields.into_iter().map(|(_, arg, rec)| (arg, rec)).collect();
    Ok(RecordedEvent {
        source,
        etype,
        type_name,
        ts,
        num,
        payload,
        ids,
        values,
        slots: slots.into(),
        derived,
    })
}

/// The keys an event line may have.
const KEYS: [&str; 7] = ["ts", "time", "source", "type", "fields", "data", "data_base64"];

/// A plugin event's payload: `data` as text (its UTF-8 bytes) or `data_base64` (standard
/// alphabet, padded) for bytes that are not text. Only for plugin sources: a syscall event's
/// payload is built from its fields, as live.
fn payload(obj: &Map<String, Json>, source: &str) -> Result<Option<Vec<u8>>, String> {
    use base64::Engine;
    let data = match (obj.get("data"), obj.get("data_base64")) {
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => {
            return Err("'data' and 'data_base64' are both given: a payload is one or the other".into());
        }
        (Some(Json::String(s)), None) => s.as_bytes().to_vec(),
        (Some(_), None) => return Err("'data' must be text (use 'data_base64' for bytes)".into()),
        (None, Some(Json::String(s))) => base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(|e| format!("'data_base64' is not base64: {e}"))?,
        (None, Some(_)) => return Err("'data_base64' must be base64 text".into()),
    };
    if source == SYSCALL_SOURCE {
        return Err(
            "a syscall event has no 'data': its payload is built from its fields; give a plugin source in 'source'"
                .into(),
        );
    }
    if obj.contains_key("fields") {
        return Err(
            "an event with a payload takes its fields from the extractors: give 'data' or 'fields', not both"
                .into(),
        );
    }
    Ok(Some(data))
}

fn arg_order(a: &FieldArg) -> (u8, u32, &str) {
    match a {
        FieldArg::None => (0, 0, ""),
        FieldArg::Index(i) => (1, *i, ""),
        FieldArg::Key(k) => (2, 0, k),
    }
}

/// `proc.aname[2]`, `evt.arg.flags`, `evt.arg[0]` or a plain name.
fn field_key(reg: &FieldRegistry, name: &str) -> Result<(FieldId, FieldArg), String> {
    let (base, bracket) = match name.find('[') {
        Some(i) if name.ends_with(']') => (&name[..i], Some(&name[i + 1..name.len() - 1])),
        _ => (name, None),
    };
    let (id, dotted) = reg.resolve(base).ok_or_else(|| format!("unknown field '{base}'"))?;
    let arg = match bracket.or(dotted) {
        None => FieldArg::None,
        Some(a) => match a.parse::<u32>() {
            Ok(i) => FieldArg::Index(i),
            Err(_) => FieldArg::Key(a.into()),
        },
    };
    Ok((id, arg))
}

fn keyed(
    entries: &Map<String, Json>,
    ty: FieldType,
    name: &str,
) -> Result<Vec<(String, Value<'static>)>, String> {
    entries.iter().map(|(k, v)| Ok((k.clone(), typed(v, ty, name)?))).collect()
}

fn typed(v: &Json, ty: FieldType, name: &str) -> Result<Value<'static>, String> {
    let bad = || format!("field {name}: {v} is not a valid {ty} value");
    Ok(match (ty, v) {
        (_, Json::Array(items)) => {
            Value::List(items.iter().map(|i| typed(i, ty, name)).collect::<Result<_, _>>()?)
        }
        (FieldType::Bool, Json::Bool(b)) => Value::Bool(*b),
        (FieldType::Bool, Json::String(s)) => Value::Bool(s.parse().map_err(|_| bad())?),
        (FieldType::Int64, Json::Number(n)) => Value::Int(n.as_i64().ok_or_else(bad)?),
        (FieldType::Int64, Json::String(s)) => Value::Int(s.parse().map_err(|_| bad())?),
        (t, Json::Number(n)) if t.is_numeric() => Value::UInt(n.as_u64().ok_or_else(bad)?),
        (t, Json::String(s)) if t.is_numeric() => Value::UInt(s.parse().map_err(|_| bad())?),
        (FieldType::IpAddr | FieldType::IpNet, Json::String(s)) => Value::Ip(s.parse().map_err(|_| bad())?),
        (FieldType::Bytes, Json::String(s)) => Value::Bytes(Cow::Owned(s.as_bytes().to_vec())),
        (_, Json::String(s)) => Value::Str(Cow::Owned(s.clone())),
        (_, Json::Number(n)) => Value::Str(Cow::Owned(n.to_string())),
        (_, Json::Bool(b)) => Value::Str(Cow::Owned(b.to_string())),
        _ => return Err(bad()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lanner_event::{Event, FieldRef};

    fn get<'e>(ev: &'e RecordedEvent, reg: &FieldRegistry, name: &str, arg: FieldArg) -> Option<Value<'e>> {
        ev.field(&FieldRef { id: reg.get(name).unwrap(), arg })
    }

    #[test]
    fn fields_and_arguments() {
        let reg = FieldRegistry::with_syscall_fields();
        let ev = parse_line(
            r#"{"ts": 5, "type": "openat", "fields": {"proc.name": "cat", "fd.num": 3, "proc.aname": ["cat", "bash", "sshd"], "proc.aname[3]": "systemd", "evt.arg.flags": "O_RDONLY", "proc.env": {"HOME": "/root"}, "fd.sip": "10.0.0.1"}}"#,
            &reg,
            7,
        )
        .unwrap();
        assert_eq!(ev.type_name(), "openat");
        assert_eq!(get(&ev, &reg, "proc.name", FieldArg::None), Some(Value::Str("cat".into())));
        assert_eq!(get(&ev, &reg, "fd.num", FieldArg::None), Some(Value::Int(3)));
        assert_eq!(get(&ev, &reg, "proc.aname", FieldArg::Index(1)), Some(Value::Str("bash".into())));
        assert_eq!(get(&ev, &reg, "proc.aname", FieldArg::Index(3)), Some(Value::Str("systemd".into())));
        assert_eq!(
            get(&ev, &reg, "proc.aname", FieldArg::None),
            Some(Value::List(vec![Value::Str("bash".into()), Value::Str("sshd".into())]))
        );
        assert_eq!(
            get(&ev, &reg, "evt.arg", FieldArg::Key("flags".into())),
            Some(Value::Str("O_RDONLY".into()))
        );
        assert_eq!(
            get(&ev, &reg, "proc.env", FieldArg::Key("HOME".into())),
            Some(Value::Str("/root".into()))
        );
        assert_eq!(get(&ev, &reg, "evt.num", FieldArg::None), Some(Value::UInt(7)));
        assert_eq!(get(&ev, &reg, "evt.type", FieldArg::None), Some(Value::Str("openat".into())));
        assert!(get(&ev, &reg, "fd.sip", FieldArg::None).is_some());
        assert_eq!(get(&ev, &reg, "proc.cmdline", FieldArg::None), None);
    }

    #[test]
    fn payloads_as_text_or_base64() {
        let reg = FieldRegistry::with_syscall_fields();
        let text = parse_line(r#"{"ts": 1, "source": "app", "data": "{\"a\": 1}"}"#, &reg, 1).unwrap();
        assert_eq!(text.payload(), Some(&br#"{"a": 1}"#[..]));
        assert_eq!(text.type_name(), "pluginevent");
        let b64 = parse_line(r#"{"ts": 1, "source": "app", "data_base64": "AP9hYg=="}"#, &reg, 1).unwrap();
        assert_eq!(b64.payload(), Some(&[0u8, 0xff, b'a', b'b'][..]));
        let none = parse_line(r#"{"ts": 1, "source": "app"}"#, &reg, 1).unwrap();
        assert_eq!(none.payload(), None);
    }

    #[test]
    fn a_bad_payload_names_its_line() {
        let reg = FieldRegistry::with_syscall_fields();
        let file = "# a comment\n{\"ts\": 1, \"source\": \"app\", \"data\": \"x\"}\n\n{\"ts\": 2, \"source\": \"app\", \"data\": \"x\", \"data_base64\": \"eA==\"}\n";
        let results: Vec<_> = Reader::new(file.as_bytes(), &reg).collect();
        assert!(results[0].is_ok());
        let err = results[1].as_ref().unwrap_err().to_string();
        assert!(err.starts_with("line 4: 'data' and 'data_base64' are both given"), "{err}");
    }

    #[test]
    fn bad_lines_say_why() {
        let reg = FieldRegistry::with_syscall_fields();
        for (line, want) in [
            ("not json", "invalid JSON"),
            (r#"{"type": "openat"}"#, "needs 'ts'"),
            (r#"{"ts": 1, "type": "nosuchcall"}"#, "unknown event type"),
            (r#"{"ts": 1, "type": "open", "fields": {"proc.nosuch": 1}}"#, "unknown field"),
            (r#"{"ts": 1, "type": "open", "fields": {"fd.num": "x"}}"#, "not a valid INT64"),
            (r#"{"ts": 1, "type": "open", "extra": 1}"#, "unknown key"),
            (r#"{"ts": 1, "source": "s", "data": "x", "data_base64": "eA=="}"#, "both given"),
            (r#"{"ts": 1, "source": "s", "data_base64": "not base64!"}"#, "not base64"),
            (r#"{"ts": 1, "source": "s", "data": 5}"#, "'data' must be text"),
            (r#"{"ts": 1, "type": "open", "data": "x"}"#, "a syscall event has no 'data'"),
            (r#"{"ts": 1, "source": "s", "data": "x", "fields": {}}"#, "not both"),
        ] {
            let err = parse_line(line, &reg, 1).unwrap_err();
            assert!(err.contains(want), "{line}: {err}");
        }
    }
}
