//! `unix.probe[PATH]`: connects to the unix socket PATH through the host's `unix-socket`
//! interface, sends `GET /_ping`, and answers `ok: STATUS LINE`, or `error: MESSAGE` with the
//! host's refusal or the failure as it came.

use lanner_plugin_sdk::unix::{Connection, Read};
use lanner_plugin_sdk::{Arg, Event, Extractor, Field, FieldType, Info, Plugin, Request, Value};

struct Probe;

impl Plugin for Probe {
    fn info() -> Info {
        Info::new("unixprobe", "0.1.0", "Pings a unix socket")
    }
    fn init(_config: &str) -> Result<Self, String> {
        Ok(Probe)
    }
}

fn ping(path: &str) -> Result<String, String> {
    let c = Connection::connect(path)?;
    c.write_all(b"GET /_ping HTTP/1.0\r\nHost: d\r\n\r\n", 500)?;
    let mut got = Vec::new();
    loop {
        match c.read(4096, 500)? {
            Read::Data(d) => got.extend(d),
            Read::Timeout => return Err("no answer within 500 ms".into()),
            Read::Closed => break,
        }
    }
    let text = String::from_utf8_lossy(&got);
    Ok(text.lines().next().unwrap_or_default().to_string())
}

impl Extractor for Probe {
    fn fields() -> Vec<Field> {
        vec![
            Field::new("unix.probe", FieldType::String, "Pings the socket named in brackets")
                .with_arg(Arg::Key),
        ]
    }
    fn extract(
        &mut self,
        _event: &Event,
        requests: &[Request],
        out: &mut Vec<Option<Value>>,
    ) -> Result<(), String> {
        for r in requests {
            let path = r.arg.as_deref().unwrap_or_default();
            out.push(Some(Value::Str(match ping(path) {
                Ok(status) => format!("ok: {status}"),
                Err(e) => format!("error: {e}"),
            })));
        }
        Ok(())
    }
}

lanner_plugin_sdk::export_extractor!(Probe);
