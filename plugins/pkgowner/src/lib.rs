//! The `pkgowner` extractor: which Debian package installed the executable a process runs,
//! read from dpkg's own file lists. A binary that no package installed (dropped in `/tmp`,
//! copied into `/usr/local/bin`, written by an exploit) is a classic thing to alert on, and
//! the process table alone cannot tell it apart from a packaged one.
//!
//! Fields, on syscall events (the executable is the event's `proc.exepath`):
//! - `pkg.name`: the owning package (`coreutils`), missing when no package owns the file;
//! - `pkg.owned`: whether a package owns it.
//!
//! Configuration: `{"info_dir": "/dpkg"}`, the guest path where dpkg's
//! `/var/lib/dpkg/info` is granted (read-only). The lists are read once, when the first event
//! asks, so a plugin that no rule uses costs nothing; that first call reads every list (about
//! 0.3 s for 750 packages), so give it room in `NAME.yaml`:
//!
//! ```yaml
//! grants:
//!   dirs: [{host: /var/lib/dpkg/info, guest: /dpkg, mode: ro}]
//! limits: {call_timeout_ms: 15000}
//! ``` On merged-`/usr` systems dpkg lists
//! `/bin/cat` where the kernel reports `/usr/bin/cat`: both spellings are looked up.

use lanner_plugin_sdk::json::{self, Value as Json};
use lanner_plugin_sdk::{Event, Extractor, Field, FieldType, Info, Plugin, Request, Value, export_extractor};
use std::collections::HashMap;

const NAME: u32 = 0;
const OWNED: u32 = 1;

struct PkgOwner {
    info_dir: String,
    /// Path -> package, loaded at the first extraction.
    owners: Option<HashMap<String, String>>,
}

impl PkgOwner {
    fn owners(&mut self) -> Result<&HashMap<String, String>, String> {
        if self.owners.is_none() {
            self.owners = Some(load(&self.info_dir)?);
        }
        Ok(self.owners.as_ref().expect("loaded above"))
    }
}

/// Reads every `PACKAGE[:ARCH].list` of dpkg's info folder.
fn load(dir: &str) -> Result<HashMap<String, String>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("reading {dir} (is it granted?): {e}"))?;
    let mut owners = HashMap::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".list") else { continue };
        let package = stem.split(':').next().unwrap_or(stem).to_string();
        let Ok(text) = std::fs::read_to_string(entry.path()) else { continue };
        for path in text.lines().filter(|l| l.starts_with('/')) {
            owners.entry(path.to_string()).or_insert_with(|| package.clone());
        }
    }
    Ok(owners)
}

fn owner<'a>(owners: &'a HashMap<String, String>, path: &str) -> Option<&'a String> {
    owners.get(path).or_else(|| match path.strip_prefix("/usr") {
        Some(rest) if rest.starts_with('/') => owners.get(rest),
        _ => owners.get(&format!("/usr{path}")),
    })
}

impl Plugin for PkgOwner {
    fn info() -> Info {
        Info::new("pkgowner", "0.1.0", "The Debian package that owns a process's executable").with_schema(
            r#"{"type": "object", "properties": {"info_dir": {"type": "string"}}, "additionalProperties": false}"#,
        )
    }

    fn init(config: &str) -> Result<Self, String> {
        let mut info_dir = "/dpkg".to_string();
        if !config.trim().is_empty() {
            let cfg: Json = json::from_str(config).map_err(|e| format!("configuration: {e}"))?;
            if let Some(d) = cfg.get("info_dir").and_then(Json::as_str) {
                info_dir = d.to_string();
            }
        }
        Ok(PkgOwner { info_dir, owners: None })
    }
}

impl Extractor for PkgOwner {
    fn fields() -> Vec<Field> {
        vec![
            Field::new(
                "pkg.name",
                FieldType::String,
                "The Debian package that installed the process's executable (proc.exepath), e.g. coreutils.",
            ),
            Field::new(
                "pkg.owned",
                FieldType::Bool,
                "True if a Debian package installed the process's executable.",
            ),
        ]
    }

    fn event_sources() -> Vec<String> {
        vec!["syscall".into()]
    }

    fn extract(
        &mut self,
        event: &Event,
        requests: &[Request],
        out: &mut Vec<Option<Value>>,
    ) -> Result<(), String> {
        let exepath = event.syscall().and_then(|e| e.thread.exepath).filter(|p| p.starts_with('/'));
        let Some(path) = exepath else {
            out.extend(requests.iter().map(|_| None));
            return Ok(());
        };
        let found = owner(self.owners()?, &path).cloned();
        for r in requests {
            out.push(match r.field {
                NAME => found.clone().map(Value::Str),
                OWNED => Some(Value::Bool(found.is_some())),
                other => return Err(format!("no field with index {other}")),
            });
        }
        Ok(())
    }
}

export_extractor!(PkgOwner);
