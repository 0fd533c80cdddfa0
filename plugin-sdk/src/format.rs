//! Alert formatting shared by sink plugins: RFC 3339 times, Falco's text line and the
//! falcosidekick-compatible JSON object, with user-controlled text escaped.

use crate::{Alert, FieldValue};
use serde_json::{Map, Value};

/// `2024-05-01T12:00:00.123456789Z` for nanoseconds since the Unix epoch.
pub fn rfc3339(time_ns: u64) -> String {
    let secs = time_ns / 1_000_000_000;
    let nanos = time_ns % 1_000_000_000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Days to civil date (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z", rem / 3600, rem / 60 % 60, rem % 60)
}

/// `text` with control characters (newlines, carriage returns, escapes) written as `\n`,
/// `\r`, `\t` or `\xNN`, and backslashes doubled, so it stays on one line and cannot forge
/// another record.
pub fn escape_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// Falco's text alert, one line: `TIME: PRIORITY OUTPUT`, control characters escaped.
pub fn text_line(a: &Alert) -> String {
    format!("{}: {} {}", rfc3339(a.time_ns), escape_line(&a.priority), escape_line(&a.output))
}

/// The JSON alert falcosidekick accepts: `output`, `priority`, `rule`, `time`, `source`,
/// `tags`, `hostname` and always `output_fields` (an object, possibly empty), whose values
/// keep their types (numbers, booleans, `null` when missing), as in Lanner's JSON output.
pub fn alert_json(a: &Alert) -> Value {
    let fields: Map<String, Value> = a
        .typed_fields
        .iter()
        .map(|(k, v)| (k.clone(), v.as_ref().map_or(Value::Null, FieldValue::to_json)))
        .collect();
    serde_json::json!({
        "hostname": a.hostname,
        "output": a.output,
        "output_fields": fields,
        "priority": a.priority,
        "rule": a.rule,
        "source": a.source,
        "tags": a.tags,
        "time": rfc3339(a.time_ns),
    })
}
