//! The `json` extractor: fields over events whose payload is a JSON document, named as
//! Falco's json plugin names them.
//!
//! - `json.value[/json/pointer]`: the value at an RFC 6901 pointer, as text (strings without
//!   quotes, anything else as compact JSON); the whole document without argument.
//! - `json.obj`: the whole document, compact.
//! - `json.exists[/json/pointer]`: whether the pointer leads to a value.
//! - `json.len[/json/pointer]`: the number of items of the array or object (or the length of
//!   the string) at the pointer.
//!
//! A malformed payload (anything `serde_json` refuses to parse) gives no value for any field
//! (`json.exists` included). Duplicate keys: the last one wins, as in `serde_json`.
//!
//! Each payload is read once by a single-pass scanner ([`scan`]) that validates it and
//! resolves every requested pointer at once, skipping what nobody asked for without
//! allocating; only the requested values are materialised.

mod scan;

use lanner_plugin_sdk::json::{self, Value as Json};
use lanner_plugin_sdk::{Arg, Event, Extractor, Field, FieldType, Info, Plugin, Request, Value};
use scan::{Found, Kind, Plan, Scanner};

const VALUE: u32 = 0;
const OBJ: u32 = 1;
const EXISTS: u32 = 2;
const LEN: u32 = 3;

/// The requests of a batch, compiled into one scan plan.
struct Compiled {
    requests: Vec<Request>,
    plan: Plan,
    /// Per request, the plan node its pointer leads to (`None`: an invalid pointer).
    nodes: Vec<Option<u32>>,
}

impl Compiled {
    fn new(requests: &[Request]) -> Self {
        let mut plan = Plan::new();
        let nodes = requests
            .iter()
            .map(|r| match r.field {
                OBJ => Some(0),
                _ => plan.add(r.arg.as_deref()),
            })
            .collect();
        Compiled { requests: requests.to_vec(), plan, nodes }
    }
}

struct JsonPlugin {
    /// Sources whose events are read; empty means every source.
    sources: Vec<String>,
    /// The plan of the last requests seen (the same for every event of a batch, and usually
    /// for every batch).
    compiled: Option<Compiled>,
    scanner: Scanner,
}

impl Plugin for JsonPlugin {
    fn info() -> Info {
        Info::new("json", "0.1.0", "Fields over events whose payload is JSON").with_schema(
            r#"{"type": "object", "properties": {"sources": {"type": "array", "items": {"type": "string"}}}, "additionalProperties": false}"#,
        )
    }

    fn init(config: &str) -> Result<Self, String> {
        let mut sources = Vec::new();
        if !config.trim().is_empty() {
            let cfg: Json = json::from_str(config).map_err(|e| format!("configuration: {e}"))?;
            if let Some(list) = cfg.get("sources").and_then(Json::as_array) {
                sources = list.iter().filter_map(|s| s.as_str().map(String::from)).collect();
            }
        }
        Ok(JsonPlugin { sources, compiled: None, scanner: Scanner::default() })
    }
}

/// A value as text: strings unescaped without quotes, anything else as compact JSON (as
/// `serde_json::Value` prints it: object keys sorted, the last of duplicate keys kept).
fn text(doc: &str, f: &Found) -> Option<String> {
    match f.kind {
        Kind::Str { .. } => scan::string_text(doc, f).map(|s| s.into_owned()),
        _ => compact(doc, f),
    }
}

/// A value as compact JSON, as `serde_json::Value` prints it.
fn compact(doc: &str, f: &Found) -> Option<String> {
    let raw = &doc[f.start..f.end];
    match f.kind {
        // Without escapes a string has no character serde_json would escape.
        Kind::Str { escaped: false } | Kind::Lit | Kind::Num { plain: true } => Some(raw.to_string()),
        Kind::Arr if f.items == 0 => Some("[]".into()),
        Kind::Obj if f.items == 0 => Some("{}".into()),
        // Escaped strings, floats, big integers and containers: printed by serde_json.
        Kind::Str { escaped: true } | Kind::Num { plain: false } | Kind::Arr | Kind::Obj => {
            json::from_str::<Json>(raw).ok().map(|v| v.to_string())
        }
    }
}

/// Items of an array or object, characters of a string.
fn len(doc: &str, f: &Found) -> Option<u64> {
    match f.kind {
        Kind::Arr => Some(u64::from(f.items)),
        Kind::Obj => scan::distinct_keys(doc, f),
        Kind::Str { .. } => scan::string_text(doc, f).map(|s| s.chars().count() as u64),
        Kind::Num { .. } | Kind::Lit => None,
    }
}

impl Extractor for JsonPlugin {
    fn fields() -> Vec<Field> {
        vec![
            Field::new(
                "json.value",
                FieldType::String,
                "The value at a JSON pointer, as text (the whole document without argument)",
            )
            .with_arg(Arg::OptionalKey),
            Field::new("json.obj", FieldType::String, "The whole JSON document"),
            Field::new("json.exists", FieldType::Bool, "Whether the JSON pointer leads to a value")
                .with_arg(Arg::OptionalKey),
            Field::new(
                "json.len",
                FieldType::UInt64,
                "Items of the array or object, or characters of the string, at the JSON pointer",
            )
            .with_arg(Arg::OptionalKey),
        ]
    }

    fn extract(
        &mut self,
        event: &Event,
        requests: &[Request],
        out: &mut Vec<Option<Value>>,
    ) -> Result<(), String> {
        let doc = if self.sources.is_empty() || self.sources.contains(&event.source) {
            std::str::from_utf8(&event.data).ok()
        } else {
            None
        };
        if self.compiled.as_ref().is_none_or(|c| c.requests != requests) {
            self.compiled = Some(Compiled::new(requests));
        }
        let c = self.compiled.as_ref().expect("compiled above");
        let Some(doc) = doc.filter(|d| self.scanner.scan(&c.plan, d)) else {
            out.extend(requests.iter().map(|_| None));
            return Ok(());
        };
        for (r, node) in requests.iter().zip(&c.nodes) {
            let v = node.and_then(|n| self.scanner.found(n));
            out.push(match r.field {
                VALUE => v.and_then(|f| text(doc, &f)).map(Value::Str),
                OBJ => v.and_then(|f| compact(doc, &f)).map(Value::Str),
                EXISTS => Some(Value::Bool(v.is_some())),
                LEN => v.and_then(|f| len(doc, &f)).map(Value::UInt),
                other => return Err(format!("no field with index {other}")),
            });
        }
        Ok(())
    }
}

lanner_plugin_sdk::export_extractor!(JsonPlugin);

#[cfg(test)]
mod tests {
    use super::*;

    /// The plugin's previous implementation: a full `serde_json::Value` parse, then
    /// `Value::pointer`. The scanner must answer exactly as it did.
    fn reference(data: &[u8], requests: &[Request]) -> Vec<Option<Value>> {
        let Ok(doc) = json::from_slice::<Json>(data) else {
            return requests.iter().map(|_| None).collect();
        };
        let text = |v: &Json| match v {
            Json::String(s) => s.clone(),
            other => other.to_string(),
        };
        requests
            .iter()
            .map(|r| {
                let v = match r.arg.as_deref() {
                    None | Some("") => Some(&doc),
                    Some(p) => doc.pointer(p),
                };
                match r.field {
                    VALUE => v.map(|v| Value::Str(text(v))),
                    OBJ => Some(Value::Str(doc.to_string())),
                    EXISTS => Some(Value::Bool(v.is_some())),
                    LEN => v.and_then(|v| match v {
                        Json::Array(a) => Some(Value::UInt(a.len() as u64)),
                        Json::Object(o) => Some(Value::UInt(o.len() as u64)),
                        Json::String(s) => Some(Value::UInt(s.chars().count() as u64)),
                        _ => None,
                    }),
                    _ => unreachable!(),
                }
            })
            .collect()
    }

    fn plugin() -> JsonPlugin {
        JsonPlugin::init("").unwrap()
    }

    fn run(p: &mut JsonPlugin, data: &[u8], requests: &[Request]) -> Vec<Option<Value>> {
        let event = Event { source: "k8s_audit".into(), timestamp_ns: 0, data: data.to_vec() };
        let mut out = Vec::new();
        p.extract(&event, requests, &mut out).unwrap();
        assert_eq!(out.len(), requests.len());
        out
    }

    fn req(field: u32, arg: Option<&str>) -> Request {
        Request { field, arg: arg.map(String::from) }
    }

    const POINTERS: &[Option<&str>] = &[
        None,
        Some(""),
        Some("/"),
        Some("//"),
        Some("a"),
        Some("/a"),
        Some("/a/b"),
        Some("/a/b/c"),
        Some("/a/0"),
        Some("/a/1/x"),
        Some("/0"),
        Some("/1"),
        Some("/01"),
        Some("/-"),
        Some("/+1"),
        Some("/items"),
        Some("/items/0"),
        Some("/items/2"),
        Some("/items/3"),
        Some("/~0"),
        Some("/~1"),
        Some("/a~1b"),
        Some("/m~0n"),
        Some("/~01"),
        Some("/~2"),
        Some("/é"),
        Some("/😀"),
        Some("/s"),
        Some("/n"),
        Some("/t"),
        Some("/k\"q"),
        Some("/x y"),
    ];

    fn all_requests() -> Vec<Request> {
        let mut v = Vec::new();
        for p in POINTERS {
            for f in [VALUE, EXISTS, LEN] {
                v.push(req(f, *p));
            }
        }
        v.push(req(OBJ, None));
        v
    }

    const DOCS: &[&str] = &[
        r#"{"verb":"create","user":{"name":"alice","uid":"1000"},"objectRef":{"resource":"pods","namespace":"shop"},"items":[1,2,3]}"#,
        r#"{"a":{"b":{"c":[1,{"d":2}]}},"items":[true,false,null,"x"],"s":"plain"}"#,
        r#"{"a":[10,{"x":"y"}],"0":"zero","1":{"a":1},"":"empty","-":"dash"}"#,
        r#"[{"a":1},[2,3],"four",5.5,-6,null]"#,
        r#"{"~":"tilde","/":"slash","a/b":"ab","m~n":"mn","~1":"literal ~1","~2":"two"}"#,
        r#"{"s":"esc \" \\ \/ \b \f \n \r \t \u0041 \u00e9 \u20ac \ud83d\ude00 end","t":"\u0000"}"#,
        r#"{"é":"accent","😀":"emoji","s":"naïve ☃ 😀","k\"q":"quoted key","x y":"space"}"#,
        r#"{"\u00e9":"escaped key","\ud83d\ude00":"escaped emoji key","a\/b":"escaped slash key"}"#,
        r#"{"n":1.0,"a":1e2,"b":-0,"c":123456789012345678901234567890,"d":-9223372036854775808,"e":18446744073709551615,"f":0.1e-5,"t":12345678901234567890}"#,
        r#"{"n":-12,"items":[],"a":{},"s":""}"#,
        "  {\n\t\"a\" :\r [ 1 , 2 ] , \"s\" : \"x\" }  \n",
        r#"{"a":{"b":1},"a":{"c":2}}"#,
        r#"{"a":1,"a":2,"s":"x","s":"y"}"#,
        r#"{"a":{"b":1,"b":2,"c":3}}"#,
        r#"{"z":1,"b":{"y":[3,{"k":"v","a":null}],"a":true},"a":"x"}"#,
        r#""just a string""#,
        "42",
        "true",
        "null",
        "[]",
        "{}",
        r#"{"items":[[],[[]],{"a":[{}]}]}"#,
        // Malformed.
        "",
        " ",
        "not json",
        r#"{"a":1"#,
        r#"{"a":1,}"#,
        r#"{"a":1}x"#,
        r#"{"a":1} {"b":2}"#,
        r#"[1,2,]"#,
        r#"[01]"#,
        r#"[1.]"#,
        r#"[.5]"#,
        r#"[1e]"#,
        r#"[-]"#,
        r#"[+1]"#,
        r#"[1e400]"#,
        r#"[-1e400]"#,
        r#"[0e400000]"#,
        r#"{"a":tru}"#,
        r#"{"a":nul}"#,
        r#"{"a":True}"#,
        r#"{a:1}"#,
        r#"{'a':1}"#,
        r#"{"a" 1}"#,
        "{\"a\":\"tab\there\"}",
        "{\"a\":\"nl\nhere\"}",
        r#"{"a":"\x"}"#,
        r#"{"a":"\u12"}"#,
        r#"{"a":"\u12g4"}"#,
        r#"{"a":"\ud83d"}"#,
        r#"{"a":"\ud83dx"}"#,
        r#"{"a":"\ud83d\n"}"#,
        r#"{"a":"\ud83d\u0041"}"#,
        r#"{"a":"\ude00"}"#,
        r#"{"\ude00":1}"#,
        r#"{"ok":1,"skipped":{"deep":[1,2,{"bad":"\q"}]}}"#,
        r#"{"ok":1,"skipped":[1,2,3}"#,
        r#"{"a":"unterminated}"#,
        r#"{"a":1}]"#,
        "[1,\u{a0}2]",
    ];

    #[test]
    fn answers_exactly_as_a_full_parse_with_pointers() {
        let requests = all_requests();
        let mut p = plugin();
        for doc in DOCS {
            assert_eq!(run(&mut p, doc.as_bytes(), &requests), reference(doc.as_bytes(), &requests), "{doc}");
        }
    }

    #[test]
    fn every_truncation_and_byte_change_of_valid_documents_agrees_with_a_full_parse() {
        let requests = all_requests();
        let mut p = plugin();
        let subst: &[u8] = b"\"\\{}[],:0-.eEux \n\x01\xff";
        let mut checked = 0;
        for doc in DOCS.iter().filter(|d| json::from_str::<Json>(d).is_ok()) {
            let b = doc.as_bytes();
            for i in 0..=b.len() {
                let cut = &b[..i];
                assert_eq!(run(&mut p, cut, &requests), reference(cut, &requests), "{cut:?}");
                for &c in subst {
                    if i < b.len() {
                        let mut m = b.to_vec();
                        m[i] = c;
                        assert_eq!(
                            run(&mut p, &m, &requests),
                            reference(&m, &requests),
                            "{:?}",
                            String::from_utf8_lossy(&m)
                        );
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 10_000, "{checked}");
    }

    #[test]
    fn nesting_stops_where_serde_json_stops() {
        let requests = [req(EXISTS, None), req(VALUE, Some("/0/0"))];
        let mut p = plugin();
        for depth in [1, 2, 100, 126, 127, 128, 129, 500] {
            let doc = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            assert_eq!(
                run(&mut p, doc.as_bytes(), &requests),
                reference(doc.as_bytes(), &requests),
                "{depth}"
            );
        }
        assert_eq!(run(&mut p, "[".repeat(127).as_bytes(), &requests), [None, None]);
        let ok = format!("{}{}", "[".repeat(127), "]".repeat(127));
        assert_eq!(run(&mut p, ok.as_bytes(), &requests)[0], Some(Value::Bool(true)));
        let too_deep = format!("{}{}", "[".repeat(128), "]".repeat(128));
        assert_eq!(run(&mut p, too_deep.as_bytes(), &requests), [None, None]);
    }

    #[test]
    fn values_escapes_pointers_and_lengths() {
        let mut p = plugin();
        let s = |x: &str| Some(Value::Str(x.to_string()));
        let doc = r#"{"a/b":{"m~n":["x","\u00e9\ud83d\ude00\"\\\n"]},"o":{"z":1,"a":[true,null,-0,1.5e3]},"l":"h\u00e9llo","n":{"k":1,"k":2}}"#;
        let requests = [
            req(VALUE, Some("/a~1b/m~0n/0")),
            req(VALUE, Some("/a~1b/m~0n/1")),
            req(LEN, Some("/a~1b/m~0n/1")),
            req(VALUE, Some("/o")),
            req(VALUE, Some("/o/a/2")),
            req(VALUE, Some("/o/a/3")),
            req(LEN, Some("/o")),
            req(LEN, Some("/l")),
            req(EXISTS, Some("/a~1b/m~0n/2")),
            req(EXISTS, Some("/a/b")),
            req(LEN, Some("/n")),
            req(VALUE, Some("/n/k")),
            req(LEN, Some("/o/z")),
        ];
        assert_eq!(
            run(&mut p, doc.as_bytes(), &requests),
            [
                s("x"),
                s("é😀\"\\\n"),
                Some(Value::UInt(5)),
                s(r#"{"a":[true,null,-0.0,1500.0],"z":1}"#),
                s("-0.0"),
                s("1500.0"),
                Some(Value::UInt(2)),
                Some(Value::UInt(5)),
                Some(Value::Bool(false)),
                Some(Value::Bool(false)),
                Some(Value::UInt(1)),
                s("2"),
                None,
            ]
        );
        // A later duplicate replaces the whole earlier value, below it too.
        let doc = r#"{"a":{"b":1},"a":{"c":2}}"#;
        let requests = [req(EXISTS, Some("/a/b")), req(VALUE, Some("/a/c")), req(OBJ, None)];
        assert_eq!(
            run(&mut p, doc.as_bytes(), &requests),
            [Some(Value::Bool(false)), s("2"), s(r#"{"a":{"c":2}}"#)]
        );
    }

    #[test]
    fn malformed_payloads_give_nothing_even_when_the_requested_part_is_fine() {
        let mut p = plugin();
        let requests = [req(VALUE, Some("/ok")), req(EXISTS, Some("/ok")), req(OBJ, None)];
        for doc in [
            &br#"{"ok":"yes","later":"\q"}"#[..],
            br#"{"ok":"yes","later":[1,2}"#,
            br#"{"ok":"yes","later":"\ud800"}"#,
            br#"{"ok":"yes","later":1e999}"#,
            b"{\"ok\":\"yes\",\"later\":\"\xff\"}",
            br#"{"ok":"yes"} trailing"#,
        ] {
            assert_eq!(run(&mut p, doc, &requests), [None, None, None], "{}", String::from_utf8_lossy(doc));
        }
        assert_eq!(run(&mut p, br#"{"ok":"yes"}"#, &requests)[0], Some(Value::Str("yes".into())));
    }

    #[test]
    fn the_plan_follows_changing_requests_and_unknown_fields_are_errors() {
        let mut p = plugin();
        let doc = br#"{"a":"1","b":"2"}"#;
        assert_eq!(run(&mut p, doc, &[req(VALUE, Some("/a"))]), [Some(Value::Str("1".into()))]);
        assert_eq!(run(&mut p, doc, &[req(VALUE, Some("/b"))]), [Some(Value::Str("2".into()))]);
        let event = Event { source: "s".into(), timestamp_ns: 0, data: doc.to_vec() };
        assert!(p.extract(&event, &[req(9, None)], &mut Vec::new()).is_err());
        let mut only_a = JsonPlugin::init(r#"{"sources":["a"]}"#).unwrap();
        let mut out = Vec::new();
        only_a.extract(&event, &[req(EXISTS, None)], &mut out).unwrap();
        assert_eq!(out, [None]);
    }
}
