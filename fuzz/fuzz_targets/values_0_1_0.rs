//! Fuzzes the decoder of 0.1.0 `extract` answers (a list of optional values, already lifted
//! by wasmtime): the count and size checks and the copy into one text buffer.
//!
//! Properties: decoding never panics; it succeeds exactly when the count is events x requests
//! and the size is within the limit; what it gives back is what the plugin returned.
#![no_main]

use lanner_event::Value;
use lanner_plugin_answers::{AnswerValue, Extracted, answer_size};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use std::borrow::Cow;

fn value(u: &mut Unstructured<'_>) -> Result<Option<AnswerValue>> {
    Ok(Some(match u.int_in_range(0..=6u8)? {
        0 => return Ok(None),
        1 => AnswerValue::Str(u.arbitrary()?),
        2 => AnswerValue::Int(u.arbitrary()?),
        3 => AnswerValue::UInt(u.arbitrary()?),
        4 => AnswerValue::Bool(u.arbitrary()?),
        5 => {
            let n = u.int_in_range(0..=4usize)?;
            let mut l = Vec::with_capacity(n);
            for _ in 0..n {
                l.push(u.arbitrary()?);
            }
            AnswerValue::StrList(l)
        }
        _ => AnswerValue::Bytes(u.arbitrary()?),
    }))
}

fn expected(v: &Option<AnswerValue>) -> Option<Value<'static>> {
    Some(match v.as_ref()? {
        AnswerValue::Str(s) => Value::Str(Cow::Owned(s.clone())),
        AnswerValue::Int(i) => Value::Int(*i),
        AnswerValue::UInt(u) => Value::UInt(*u),
        AnswerValue::Bool(b) => Value::Bool(*b),
        AnswerValue::StrList(l) => Value::List(l.iter().map(|s| Value::Str(Cow::Owned(s.clone()))).collect()),
        AnswerValue::Bytes(b) => Value::Bytes(Cow::Owned(b.clone())),
    })
}

fn answer(u: &mut Unstructured<'_>) -> Result<(Vec<Option<AnswerValue>>, usize, usize, u64)> {
    let events = u.int_in_range(0..=4usize)?;
    let requests = u.int_in_range(0..=4usize)?;
    let max = match u.int_in_range(0..=3u8)? {
        0 => u.int_in_range(0..=512u64)?,
        _ => u64::MAX,
    };
    let n = u.int_in_range(0..=20usize)?;
    let mut vals = Vec::with_capacity(n);
    for _ in 0..n {
        vals.push(value(u)?);
    }
    Ok((vals, events, requests, max))
}

fuzz_target!(|data: &[u8]| {
    let Ok((vals, events, requests, max)) = answer(&mut Unstructured::new(data)) else {
        return;
    };
    let want: Vec<_> = vals.iter().map(expected).collect();
    let valid = vals.len() == events * requests && answer_size(&vals) <= max;
    match Extracted::from_values(vals, events, requests, max) {
        Ok(out) => {
            assert!(valid, "an answer of the wrong count or size was taken");
            assert_eq!(out.into_values(), want);
        }
        Err(e) => assert!(!valid, "a valid answer was refused: {e}"),
    }
});
