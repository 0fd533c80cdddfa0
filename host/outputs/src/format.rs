//! How an alert becomes a line of text: Falco's text format or its JSON object.

use lanner_event::Alert;

/// Text (`time: Priority output`) or a JSON object, optionally without `output` or `tags`
/// (Falco's `json_include_output_property`, `json_include_tags_property`). JSON always carries
/// `output_fields`, which falcosidekick requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertFormat {
    /// A JSON object rather than a text line.
    pub json: bool,
    /// JSON: include the `output` text.
    pub include_output: bool,
    /// JSON: include the rule's `tags`.
    pub include_tags: bool,
}

impl AlertFormat {
    /// Text, or complete JSON.
    pub fn plain(json: bool) -> Self {
        Self { json, include_output: true, include_tags: true }
    }

    /// Writes the alert as one line.
    pub fn write(&self, out: &mut dyn std::io::Write, alert: &Alert) -> std::io::Result<()> {
        writeln!(out, "{}", self.line(alert))
    }

    /// The alert as one line, without the line end. User-controlled text (file names,
    /// command lines) cannot break the line: JSON escapes control characters, and the text
    /// format shows them as escapes.
    pub fn line(&self, alert: &Alert) -> String {
        if !self.json {
            return escape_controls(&alert.to_text());
        }
        let mut v = alert.to_json();
        if let Some(o) = v.as_object_mut() {
            if !self.include_output {
                o.remove("output");
            }
            if !self.include_tags {
                o.remove("tags");
            }
        }
        v.to_string()
    }
}

/// Control characters (newlines above all) as `\n`, `\r`, `\t` or `\u{..}`: one alert, one
/// line, whatever a file name holds.
pub fn escape_controls(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use lanner_event::Priority;

    fn alert(output: &str) -> Alert {
        Alert {
            time_ns: 1_700_000_000_000_000_000,
            rule: "R".into(),
            priority: Priority::Warning,
            output: output.into(),
            output_fields: Vec::new(),
            source: "syscall".into(),
            tags: vec!["t".into()],
            hostname: "h".into(),
        }
    }

    #[test]
    fn one_alert_one_line() {
        let a = alert("opened /tmp/evil\n2023-11-14T22:13:20Z: Critical forged");
        let text = AlertFormat::plain(false).line(&a);
        assert!(!text.contains('\n'));
        assert!(text.ends_with("opened /tmp/evil\\n2023-11-14T22:13:20Z: Critical forged"), "{text}");
        let json = AlertFormat::plain(true).line(&a);
        assert!(!json.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["output"], a.output);
        assert!(v["output_fields"].is_object());
    }

    #[test]
    fn json_properties_can_be_left_out() {
        let f = AlertFormat { json: true, include_output: false, include_tags: false };
        let v: serde_json::Value = serde_json::from_str(&f.line(&alert("x"))).unwrap();
        assert!(v.get("output").is_none() && v.get("tags").is_none());
        assert_eq!(v["rule"], "R");
    }
}
