//! Fuzzes the decoder of packed answers (`packed-extractor`, `wit/v0.2.0/plugin.wit`): what a
//! plugin returns for a batch, read by the host with no trust in it.
//!
//! Properties: decoding never panics; an answer that decodes has exactly events x requests
//! values, each readable; packed again as the SDK packs, it decodes to the same values.
//!
//! Input: a few header bytes (events, requests, limit, shape), then the four lists. With the
//! shape's bits set, kinds are taken modulo the known kinds and text ends are built from small
//! steps, so that most inputs get past the first checks into the decoding itself.
#![no_main]

use lanner_plugin_answers::{Extracted, PackedValues};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

fn answer(u: &mut Unstructured<'_>) -> Result<(PackedValues, usize, usize, u64)> {
    let events = u.int_in_range(0..=6usize)?;
    let requests = u.int_in_range(0..=6usize)?;
    let max = match u.int_in_range(0..=3u8)? {
        0 => u.int_in_range(0..=512u64)?,
        _ => u64::MAX,
    };
    let shape: u8 = u.arbitrary()?;
    let n = u.arbitrary_len::<u8>()?.min(64);
    let mut kinds = Vec::with_capacity(n);
    for _ in 0..n {
        let k: u8 = u.arbitrary()?;
        kinds.push(if shape & 1 != 0 { k % 7 } else { k });
    }
    let n = u.arbitrary_len::<u64>()?.min(64);
    let mut numbers = Vec::with_capacity(n);
    for _ in 0..n {
        let v: u64 = u.arbitrary()?;
        numbers.push(if shape & 2 != 0 { v % 4 } else { v });
    }
    let n = u.arbitrary_len::<u32>()?.min(64);
    let mut raw_ends = Vec::with_capacity(n);
    for _ in 0..n {
        raw_ends.push(u.arbitrary::<u32>()?);
    }
    let text = u.bytes(u.len())?.to_vec();
    let ends = if shape & 4 != 0 {
        // Non-decreasing ends within the text: steps of 0 to 3 bytes.
        let mut at = 0u32;
        raw_ends
            .iter()
            .map(|s| {
                at = (at + s % 4).min(text.len() as u32);
                at
            })
            .collect()
    } else {
        raw_ends
    };
    Ok((PackedValues { kinds, numbers, text, ends }, events, requests, max))
}

fuzz_target!(|data: &[u8]| {
    let Ok((v, events, requests, max)) = answer(&mut Unstructured::new(data)) else {
        return;
    };
    let Ok(out) = Extracted::from_packed(v.clone(), events, requests, max) else {
        return;
    };
    assert_eq!(out.len(), events * requests, "wrong number of values for {v:?}");
    for i in 0..out.len() {
        let _ = out.get(i);
    }
    assert!(out.get(out.len()).is_none());
    let values = out.into_values();
    let again = PackedValues::pack(&values).expect("decoded values can be packed again");
    let decoded = Extracted::from_packed(again, events, requests, u64::MAX)
        .unwrap_or_else(|e| panic!("re-packed values do not decode: {e}\n from {v:?}"));
    assert_eq!(decoded.into_values(), values, "re-packed values decode differently\n from {v:?}");
});
