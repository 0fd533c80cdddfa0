use crate::event::{Recorded, RecordedEvent};
use lanner_event::{FieldArg, FieldRegistry, Value};
use serde_json::{Map, Value as Json, json};

fn to_json(v: &Value<'_>) -> Json {
    match v {
        Value::Str(s) => Json::String(s.to_string()),
        Value::Int(i) => json!(i),
        Value::UInt(u) => json!(u),
        Value::Bool(b) => json!(b),
        Value::Ip(ip) => Json::String(ip.to_string()),
        Value::Bytes(b) => Json::String(String::from_utf8_lossy(b).into_owned()),
        Value::List(items) => Json::Array(items.iter().map(to_json).collect()),
    }
}

/// One event as a line of an event file (without the newline).
pub fn to_line(ev: &RecordedEvent, registry: &FieldRegistry) -> String {
    let mut fields = Map::new();
    for (id, (arg, rec)) in ev.ids.iter().zip(&ev.values) {
        let name = registry.def(*id).name.to_string();
        let key = match arg {
            FieldArg::None => name,
            FieldArg::Index(i) => format!("{name}[{i}]"),
            FieldArg::Key(k) => format!("{name}[{k}]"),
        };
        let value = match rec {
            Recorded::Plain(v) => to_json(v),
            Recorded::Indexed(items) => Json::Array(items.iter().map(to_json).collect()),
            Recorded::Keyed(entries) => {
                Json::Object(entries.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
            }
        };
        fields.insert(key, value);
    }
    let mut obj = Map::new();
    obj.insert("ts".into(), json!(ev.ts));
    if ev.source != lanner_event::SYSCALL_SOURCE {
        obj.insert("source".into(), json!(ev.source));
    }
    obj.insert("type".into(), json!(ev.type_name));
    match &ev.payload {
        // Text stays readable; anything else goes as base64.
        Some(data) => match std::str::from_utf8(data) {
            Ok(text) => {
                obj.insert("data".into(), json!(text));
            }
            Err(_) => {
                use base64::Engine;
                obj.insert(
                    "data_base64".into(),
                    json!(base64::engine::general_purpose::STANDARD.encode(data)),
                );
            }
        },
        None => {
            obj.insert("fields".into(), Json::Object(fields));
        }
    }
    Json::Object(obj).to_string()
}

#[cfg(test)]
mod tests {
    use crate::parse_line;
    use lanner_event::FieldRegistry;

    #[test]
    fn round_trip() {
        let reg = FieldRegistry::with_syscall_fields();
        let line = r#"{"ts":42,"type":"connect","fields":{"fd.sip":"127.0.0.1","fd.sport":8080,"proc.aname":["nc","bash"],"proc.env":{"HOME":"/root"}}}"#;
        let ev = parse_line(line, &reg, 1).unwrap();
        let again = parse_line(&super::to_line(&ev, &reg), &reg, 1).unwrap();
        assert_eq!(ev, again);
    }

    #[test]
    fn payloads_round_trip_as_text_or_base64() {
        let reg = FieldRegistry::with_syscall_fields();
        for line in [
            r#"{"ts":1,"source":"app","data":"{\"a\":1}"}"#,
            r#"{"ts":1,"source":"app","data_base64":"AP8="}"#,
        ] {
            let ev = parse_line(line, &reg, 1).unwrap();
            let out = super::to_line(&ev, &reg);
            assert_eq!(parse_line(&out, &reg, 1).unwrap(), ev, "{out}");
        }
    }
}
