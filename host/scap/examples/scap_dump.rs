//! Prints a capture's tables and events, one line each: a quick look at what the reader sees.
//! usage: cargo run -p lanner-scap --example scap_dump -- FILE.scap

use std::path::PathBuf;

use lanner_scap::ScapReader;

fn main() {
    let path = PathBuf::from(std::env::args().nth(1).expect("usage: scap_dump FILE.scap"));
    let mut r = match ScapReader::open(&path) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            std::process::exit(1);
        }
    };
    let t = r.tables();
    println!(
        "version {:?} machine {:?} threads {} users {} groups {}",
        t.version,
        t.machine.as_ref().map(|m| &m.hostname),
        t.threads.len(),
        t.users.len(),
        t.groups.len()
    );
    loop {
        match r.next_event() {
            Ok(Some(ev)) => {
                let mut line = format!(
                    "{} {} {} {} {}",
                    r.events_read(),
                    ev.ts,
                    ev.tid,
                    ev.direction().symbol(),
                    ev.name().unwrap_or("?")
                );
                for (name, p) in ev.params() {
                    line.push_str(&format!(" {name}={p:?}"));
                }
                println!("{line}");
            }
            Ok(None) => break,
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                std::process::exit(1);
            }
        }
    }
}
