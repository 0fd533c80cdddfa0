//! Decoders of plugin answers: the values a plugin extracted for a batch, kept the way a
//! packed answer carries them: one text buffer and a small slot per value. Rules read them by
//! borrowing from the buffer, so a batch's strings are not each allocated again on the host
//! (with four fields per event, that allocation was a quarter of the host's cost per event).
//!
//! Everything here reads what a plugin returned, so it trusts nothing of it: a malformed
//! answer is an error naming what is wrong, never a panic. It is its own crate, without
//! wasmtime, so that `fuzz/` can run it under libFuzzer alone (`bench/fuzz.sh`).
#![deny(missing_docs)]

use lanner_event::Value;
use std::borrow::Cow;

/// A packed answer, as `packed-extractor` (`wit/v0.2.0/plugin.wit`) returns it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackedValues {
    /// One kind per value: 0 none, 1 string, 2 int, 3 uint, 4 bool, 5 string list, 6 bytes.
    pub kinds: Vec<u8>,
    /// The numbers of ints, uints, bools and list lengths, in order.
    pub numbers: Vec<u64>,
    /// The strings, list items and bytes, one after the other.
    pub text: Vec<u8>,
    /// Where each of them ends in `text`.
    pub ends: Vec<u32>,
}

/// One value of a 0.1.0 `extract` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerValue {
    /// Text.
    Str(String),
    /// A signed integer.
    Int(i64),
    /// An unsigned integer.
    UInt(u64),
    /// A boolean.
    Bool(bool),
    /// A list of strings.
    StrList(Vec<String>),
    /// Raw bytes.
    Bytes(Vec<u8>),
}

impl PackedValues {
    /// Packs values as a plugin does (the SDK's encoding, for tests and the fuzz targets'
    /// round trips); `None` for what the encoding cannot carry (an IP address, a list of
    /// anything but strings).
    pub fn pack(values: &[Option<Value<'_>>]) -> Option<Self> {
        let mut out = PackedValues::default();
        let push_text = |out: &mut PackedValues, b: &[u8]| -> Option<()> {
            out.text.extend_from_slice(b);
            out.ends.push(u32::try_from(out.text.len()).ok()?);
            Some(())
        };
        for v in values {
            let kind = match v {
                None => 0,
                Some(Value::Str(s)) => {
                    push_text(&mut out, s.as_bytes())?;
                    1
                }
                Some(Value::Int(i)) => {
                    out.numbers.push(*i as u64);
                    2
                }
                Some(Value::UInt(u)) => {
                    out.numbers.push(*u);
                    3
                }
                Some(Value::Bool(b)) => {
                    out.numbers.push(u64::from(*b));
                    4
                }
                Some(Value::List(items)) => {
                    out.numbers.push(items.len() as u64);
                    for item in items {
                        let Value::Str(s) = item else { return None };
                        push_text(&mut out, s.as_bytes())?;
                    }
                    5
                }
                Some(Value::Bytes(b)) => {
                    push_text(&mut out, b)?;
                    6
                }
                Some(Value::Ip(_)) => return None,
            };
            out.kinds.push(kind);
        }
        Some(out)
    }
}

/// What a 0.1.0 answer costs the host, counted as the limit `max_output_bytes` counts it.
pub fn answer_size(vals: &[Option<AnswerValue>]) -> u64 {
    vals.iter()
        .map(|v| {
            16 + match v {
                Some(AnswerValue::Str(s)) => s.len() as u64,
                Some(AnswerValue::Bytes(b)) => b.len() as u64,
                Some(AnswerValue::StrList(l)) => l.iter().map(|s| 16 + s.len() as u64).sum(),
                _ => 0,
            }
        })
        .sum()
}

/// One value: where its text is, or the number itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    None,
    /// `text[start..end]`.
    Str(u32, u32),
    /// Bytes at `text[start..end]` (the whole answer's text was UTF-8).
    TextBytes(u32, u32),
    /// Bytes at `bytes[start..end]` (the answer's text was not all UTF-8).
    Bytes(u32, u32),
    Int(i64),
    UInt(u64),
    Bool(bool),
    /// Items `items[first..first + count]`, each a span of `text`.
    List(u32, u32),
}

/// The values one extraction returned, row-major: event `e`, request `r` at
/// `e * requests + r`.
#[derive(Debug, Default)]
pub struct Extracted {
    slots: Vec<Slot>,
    text: String,
    bytes: Vec<u8>,
    items: Vec<(u32, u32)>,
}

fn malformed(what: &str) -> String {
    format!("malformed packed values: {what}")
}

/// A span's bounds as stored (buffers are under 4 GiB: the plugin's output limit is far less).
fn span(start: usize, end: usize) -> Result<(u32, u32), String> {
    match (u32::try_from(start), u32::try_from(end)) {
        (Ok(s), Ok(e)) => Ok((s, e)),
        _ => Err(malformed("text beyond 4 GiB")),
    }
}

impl Extracted {
    /// How many values.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Value `i`, borrowed from the buffers.
    pub fn get(&self, i: usize) -> Option<Value<'_>> {
        let text = |s: u32, e: u32| &self.text[s as usize..e as usize];
        Some(match *self.slots.get(i)? {
            Slot::None => return None,
            Slot::Str(s, e) => Value::Str(Cow::Borrowed(text(s, e))),
            // Bytes may end inside a character of the text: sliced as bytes, never as `str`.
            Slot::TextBytes(s, e) => {
                Value::Bytes(Cow::Borrowed(&self.text.as_bytes()[s as usize..e as usize]))
            }
            Slot::Bytes(s, e) => Value::Bytes(Cow::Borrowed(&self.bytes[s as usize..e as usize])),
            Slot::Int(v) => Value::Int(v),
            Slot::UInt(v) => Value::UInt(v),
            Slot::Bool(v) => Value::Bool(v),
            Slot::List(first, count) => Value::List(
                self.items[first as usize..(first + count) as usize]
                    .iter()
                    .map(|&(s, e)| Value::Str(Cow::Borrowed(text(s, e))))
                    .collect(),
            ),
        })
    }

    /// Every value, owned.
    pub fn into_values(self) -> Vec<Option<Value<'static>>> {
        (0..self.len()).map(|i| self.get(i).map(Value::into_owned)).collect()
    }

    /// Decodes a packed answer (the encoding is documented in `wit/v0.2.0/plugin.wit`),
    /// checking the count and the size limit first; anything malformed is the plugin's
    /// failure, described in the returned message.
    pub fn from_packed(v: PackedValues, events: usize, requests: usize, max: u64) -> Result<Self, String> {
        let expected = events.saturating_mul(requests);
        if v.kinds.len() != expected {
            return Err(format!("returned {} values for {events} events x {requests} fields", v.kinds.len()));
        }
        let size = 16 * v.kinds.len() as u64 + v.text.len() as u64 + 16 * v.ends.len() as u64;
        if size > max {
            return Err(format!("returned {size} bytes, more than limits.max_output_bytes ({max} bytes)"));
        }
        // Usually the whole text is UTF-8 (strings, and bytes that happen to be): it is kept
        // as it came, and each string need only start and end on a character boundary.
        // Otherwise the strings are copied out one by one, each checked.
        let (raw, whole) = match String::from_utf8(v.text) {
            Ok(text) => (Vec::new(), Some(text)),
            Err(e) => (e.into_bytes(), None),
        };
        let mut out = Extracted {
            slots: Vec::with_capacity(expected),
            text: String::new(),
            bytes: Vec::new(),
            items: Vec::new(),
        };
        let source_len = whole.as_ref().map_or(raw.len(), String::len);
        let mut numbers = v.numbers.iter().copied();
        let mut ends = v.ends.iter().map(|&e| e as usize);
        let mut start = 0;
        let mut next_span = || -> Result<(usize, usize), String> {
            let end = ends.next().ok_or_else(|| malformed("too few text ends"))?;
            if end < start || end > source_len {
                return Err(malformed("text ends out of order or bounds"));
            }
            let s = (start, end);
            start = end;
            Ok(s)
        };
        // A string of the answer, as a span of `out.text`.
        let string = |out: &mut Extracted, (s, e): (usize, usize)| -> Result<(u32, u32), String> {
            match &whole {
                Some(text) if text.is_char_boundary(s) && text.is_char_boundary(e) => span(s, e),
                Some(_) => Err(malformed("a string is not UTF-8")),
                None => {
                    let t =
                        std::str::from_utf8(&raw[s..e]).map_err(|_| malformed("a string is not UTF-8"))?;
                    let at = out.text.len();
                    out.text.push_str(t);
                    span(at, out.text.len())
                }
            }
        };
        for &k in &v.kinds {
            let mut number = || numbers.next().ok_or_else(|| malformed("too few numbers"));
            let slot = match k {
                0 => Slot::None,
                1 => {
                    let (s, e) = string(&mut out, next_span()?)?;
                    Slot::Str(s, e)
                }
                2 => Slot::Int(number()? as i64),
                3 => Slot::UInt(number()?),
                4 => Slot::Bool(match number()? {
                    0 => false,
                    1 => true,
                    _ => return Err(malformed("a bool is neither 0 nor 1")),
                }),
                5 => {
                    let n = number()?;
                    if n > v.ends.len() as u64 {
                        return Err(malformed("a list longer than the text ends"));
                    }
                    let first = out.items.len();
                    for _ in 0..n {
                        let item = string(&mut out, next_span()?)?;
                        out.items.push(item);
                    }
                    let (first, count) = span(first, out.items.len() - first)?;
                    Slot::List(first, count)
                }
                6 => {
                    let (s, e) = next_span()?;
                    if whole.is_some() {
                        let (s, e) = span(s, e)?;
                        Slot::TextBytes(s, e)
                    } else {
                        let at = out.bytes.len();
                        out.bytes.extend_from_slice(&raw[s..e]);
                        let (s, e) = span(at, out.bytes.len())?;
                        Slot::Bytes(s, e)
                    }
                }
                k => return Err(malformed(&format!("unknown kind {k}"))),
            };
            out.slots.push(slot);
        }
        if numbers.next().is_some() || ends.next().is_some() {
            return Err(malformed("lists not used up"));
        }
        if let Some(text) = whole {
            out.text = text;
        }
        Ok(out)
    }

    /// Takes the values of a 0.1.0 `extract` answer, checking their count and size first.
    pub fn from_values(
        vals: Vec<Option<AnswerValue>>,
        events: usize,
        requests: usize,
        max: u64,
    ) -> Result<Self, String> {
        if vals.len() != events.saturating_mul(requests) {
            return Err(format!("returned {} values for {events} events x {requests} fields", vals.len()));
        }
        let size = answer_size(&vals);
        if size > max {
            return Err(format!("returned {size} bytes, more than limits.max_output_bytes ({max} bytes)"));
        }
        let mut out = Extracted { slots: Vec::with_capacity(vals.len()), ..Extracted::default() };
        for v in vals {
            let slot = match v {
                None => Slot::None,
                Some(AnswerValue::Str(s)) => {
                    let (s, e) = out.push_text(&s)?;
                    Slot::Str(s, e)
                }
                Some(AnswerValue::Int(i)) => Slot::Int(i),
                Some(AnswerValue::UInt(u)) => Slot::UInt(u),
                Some(AnswerValue::Bool(b)) => Slot::Bool(b),
                Some(AnswerValue::StrList(l)) => {
                    let first = out.items.len();
                    for s in &l {
                        let item = out.push_text(s)?;
                        out.items.push(item);
                    }
                    let (first, count) = span(first, l.len())?;
                    Slot::List(first, count)
                }
                Some(AnswerValue::Bytes(b)) => {
                    let at = out.bytes.len();
                    out.bytes.extend_from_slice(&b);
                    let (s, e) = span(at, out.bytes.len())?;
                    Slot::Bytes(s, e)
                }
            };
            out.slots.push(slot);
        }
        Ok(out)
    }

    fn push_text(&mut self, s: &str) -> Result<(u32, u32), String> {
        let at = self.text.len();
        self.text.push_str(s);
        span(at, self.text.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(kinds: &[u8], numbers: &[u64], text: &[u8], ends: &[u32]) -> PackedValues {
        PackedValues {
            kinds: kinds.to_vec(),
            numbers: numbers.to_vec(),
            text: text.to_vec(),
            ends: ends.to_vec(),
        }
    }

    fn every_kind() -> Vec<Option<Value<'static>>> {
        vec![
            None,
            Some(Value::Str("hi".into())),
            Some(Value::Int(-2)),
            Some(Value::UInt(7)),
            Some(Value::Bool(true)),
            Some(Value::List(vec![Value::Str("a".into()), Value::Str("bc".into())])),
            Some(Value::Bytes(Cow::Owned(b"de\x00".to_vec()))),
        ]
    }

    #[test]
    fn unpacks_every_kind() {
        let v = values(&[0, 1, 2, 3, 4, 5, 6], &[(-2i64) as u64, 7, 1, 2], b"hiabcde\x00", &[2, 3, 5, 8]);
        let out = Extracted::from_packed(v, 1, 7, 1 << 20).unwrap();
        assert_eq!(out.into_values(), every_kind());
    }

    #[test]
    fn unpacks_bytes_that_are_not_utf8_beside_strings() {
        // The text as a whole is not UTF-8: strings are copied out, bytes kept apart.
        let v = values(&[1, 6, 5, 1], &[2], b"h\xc3\xa9\xff\xfeab\xe2\x82\xac", &[3, 5, 6, 7, 10]);
        let out = Extracted::from_packed(v, 2, 2, 1 << 20).unwrap();
        assert_eq!(
            out.into_values(),
            [
                Some(Value::Str("h\u{e9}".into())),
                Some(Value::Bytes(Cow::Owned(b"\xff\xfe".to_vec()))),
                Some(Value::List(vec![Value::Str("a".into()), Value::Str("b".into())])),
                Some(Value::Str("\u{20ac}".into())),
            ]
        );
    }

    #[test]
    fn takes_0_1_0_values() {
        let vals = vec![
            None,
            Some(AnswerValue::Str("hi".into())),
            Some(AnswerValue::Int(-2)),
            Some(AnswerValue::UInt(7)),
            Some(AnswerValue::Bool(true)),
            Some(AnswerValue::StrList(vec!["a".into(), "bc".into()])),
            Some(AnswerValue::Bytes(b"de\x00".to_vec())),
        ];
        assert_eq!(Extracted::from_values(vals, 1, 7, 1 << 20).unwrap().into_values(), every_kind());
    }

    #[test]
    fn bytes_that_split_a_character_of_utf8_text_are_read_as_bytes() {
        // The whole text is UTF-8 ("é€"), but the bytes values cut both characters: the
        // first ends inside "é", the second starts there and ends inside "€".
        let text = "\u{e9}\u{20ac}".as_bytes();
        let v = values(&[6, 6, 6], &[], text, &[1, 3, 5]);
        let out = Extracted::from_packed(v, 1, 3, 1 << 20).unwrap();
        assert_eq!(
            out.into_values(),
            [
                Some(Value::Bytes(Cow::Owned(text[..1].to_vec()))),
                Some(Value::Bytes(Cow::Owned(text[1..3].to_vec()))),
                Some(Value::Bytes(Cow::Owned(text[3..].to_vec()))),
            ]
        );
    }

    #[test]
    fn packing_what_was_unpacked_gives_the_same_values() {
        let packed = PackedValues::pack(&every_kind()).unwrap();
        let out = Extracted::from_packed(packed, 1, 7, 1 << 20).unwrap();
        assert_eq!(out.into_values(), every_kind());
    }

    #[test]
    fn a_0_1_0_answer_of_the_wrong_count_or_size_is_refused() {
        let err = Extracted::from_values(vec![None], 1, 2, 1 << 20).unwrap_err();
        assert_eq!(err, "returned 1 values for 1 events x 2 fields");
        let err =
            Extracted::from_values(vec![Some(AnswerValue::Str("x".repeat(100)))], 1, 1, 64).unwrap_err();
        assert_eq!(err, "returned 116 bytes, more than limits.max_output_bytes (64 bytes)");
    }

    #[test]
    fn a_malformed_answer_is_an_error_never_a_panic() {
        let cases = [
            (values(&[1], &[], b"hi", &[3]), "out of order or bounds"),
            (values(&[5], &[2], b"hi", &[2, 1]), "out of order or bounds"),
            (values(&[1], &[], b"\xff", &[3]), "out of order or bounds"),
            (values(&[1], &[], b"hi", &[]), "too few text ends"),
            (values(&[3], &[], b"", &[]), "too few numbers"),
            (values(&[4], &[2], b"", &[]), "neither 0 nor 1"),
            (values(&[9], &[], b"", &[]), "unknown kind 9"),
            (values(&[5], &[u64::MAX], b"", &[]), "list longer"),
            (values(&[1], &[], b"\xff", &[1]), "not UTF-8"),
            // Valid UTF-8 as a whole, but the string ends inside a character.
            (values(&[1], &[], "\u{e9}".as_bytes(), &[1]), "not UTF-8"),
            (values(&[5], &[1], "\u{e9}".as_bytes(), &[1]), "not UTF-8"),
            (values(&[0], &[1], b"", &[]), "not used up"),
            (values(&[0], &[], b"x", &[1]), "not used up"),
            (values(&[0, 0], &[], b"", &[]), "returned 2 values for 1 events x 1 fields"),
            (values(&[1], &[], &[b'x'; 100], &[100]), "more than limits.max_output_bytes (64 bytes)"),
        ];
        for (v, want) in cases {
            let err = Extracted::from_packed(v, 1, 1, 64).unwrap_err();
            assert!(err.contains(want), "{err} (wanted {want})");
        }
    }
}
