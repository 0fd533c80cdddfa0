//! Fuzzes the `.scap` reader (`lanner-scap`): a capture is evidence from elsewhere, read with
//! no trust in it.
//!
//! Properties: reading never panics, whatever the bytes; every error names a block that
//! starts inside the input; every event that decodes has each parameter readable by its
//! type, and encoded again in the current layout it decodes to the same event.
#![no_main]

use lanner_scap::block::{EV_BLOCK_TYPE_V2, EV_BLOCK_TYPE_V2_LARGE, event_block_shape};
use lanner_scap::{Event, ScapReader};
use libfuzzer_sys::fuzz_target;

fn check_error(e: &lanner_scap::ScapError, len: usize) {
    assert!(e.offset <= len as u64, "error at byte {} of a {len}-byte input: {e}", e.offset);
    // Displaying it must not panic either.
    let _ = e.to_string();
}

fuzz_target!(|data: &[u8]| {
    let mut reader = match ScapReader::new(data) {
        Ok(r) => r,
        Err(e) => return check_error(&e, data.len()),
    };
    let tables = reader.tables();
    for t in tables.threads.values() {
        let _ = (t.comm.len(), t.args.len(), t.fds.len());
    }
    loop {
        match reader.next_event() {
            Ok(Some(ev)) => {
                for (_, p) in ev.params() {
                    let _ = (p.as_i64(), p.as_bytes());
                }
                let mut body = ev.cpu.to_le_bytes().to_vec();
                body.extend(ev.encode());
                let large = ev.info().is_some_and(|i| i.large_payload());
                let block = if large { EV_BLOCK_TYPE_V2_LARGE } else { EV_BLOCK_TYPE_V2 };
                let back = Event::decode(&body, event_block_shape(block).unwrap())
                    .expect("a decoded event encodes and decodes again");
                let mut want = ev.clone();
                want.dump_flags = 0;
                assert_eq!(back, want);
            }
            Ok(None) => break,
            Err(e) => {
                check_error(&e, data.len());
                break;
            }
        }
    }
});
