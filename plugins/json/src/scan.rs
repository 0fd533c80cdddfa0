//! A single-pass JSON scanner that resolves many RFC 6901 pointers at once.
//!
//! [`Plan`] holds the requested pointers as a trie of reference tokens. [`Scanner::scan`]
//! walks the payload once, validating every byte (including the parts no pointer leads to)
//! with the rules serde_json applies when it parses a `serde_json::Value`, and records for
//! each trie node the byte span of the value found there. Nothing is allocated while
//! scanning (a reused scratch buffer unescapes keys that contain escapes); the caller
//! materialises only the values it was asked for, from the recorded spans.
//!
//! Agreement with `serde_json::from_slice::<Value>` followed by `Value::pointer`:
//!
//! - A document serde_json refuses is refused: bad syntax, trailing characters, invalid
//!   UTF-8, raw control characters in strings, bad escapes, unpaired UTF-16 surrogates in
//!   `\u` escapes, numbers whose value overflows `f64`, and more than 127 nested arrays or
//!   objects (serde_json's recursion limit).
//! - Duplicate keys: the last one wins (serde_json's map keeps the last insertion), including
//!   for pointers that lead below the duplicated key.
//! - Pointers: empty means the whole document, anything else must start with `/`; tokens
//!   are unescaped `~1` to `/` then `~0` to `~`; a token is an array index only in canonical
//!   decimal form (`0`, or no leading zero and no sign).
//!
//! One deliberate, documented difference: whether a number overflows `f64` is decided with
//! Rust's correctly rounded parser, while serde_json (without its `float_roundtrip` feature)
//! uses a faster approximate one; the two could disagree only for literals within an ulp of
//! `f64::MAX`.

use std::borrow::Cow;

/// serde_json gives up at its 128th nested array or object.
const MAX_DEPTH: u32 = 128;

/// No trie node: the value is validated and skipped.
const NONE: u32 = u32::MAX;

/// What a recorded value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A string; whether it contains escapes.
    Str { escaped: bool },
    /// A number; whether it is a plain integer serde_json keeps as `u64`/`i64` and prints
    /// back unchanged.
    Num { plain: bool },
    /// `true`, `false` or `null`.
    Lit,
    /// An array of `items` values.
    Arr,
    /// An object of `items` members (duplicates counted).
    Obj,
}

/// A value found at a pointer: its bytes `doc[start..end]` (strings with their quotes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
    /// Its kind.
    pub kind: Kind,
    /// Members of an object or items of an array (0 otherwise).
    pub items: u32,
}

#[derive(Debug)]
struct Node {
    /// The reference token, unescaped.
    key: String,
    /// The token as an array index, when it is one.
    index: Option<usize>,
    children: Vec<u32>,
}

/// The pointers to resolve, as a trie of reference tokens; node 0 is the whole document.
#[derive(Debug)]
pub struct Plan {
    nodes: Vec<Node>,
}

/// serde_json's rule for an array index token.
fn parse_index(token: &str) -> Option<usize> {
    if token.starts_with('+') || (token.starts_with('0') && token.len() != 1) {
        return None;
    }
    token.parse().ok()
}

impl Plan {
    /// A plan with the whole document only.
    pub fn new() -> Self {
        Plan { nodes: vec![Node { key: String::new(), index: None, children: Vec::new() }] }
    }

    /// Adds a pointer (`None` or empty: the whole document) and returns its node, or `None`
    /// when the pointer is invalid (it does not start with `/`) and so never leads anywhere.
    pub fn add(&mut self, pointer: Option<&str>) -> Option<u32> {
        let p = match pointer {
            None | Some("") => return Some(0),
            Some(p) => p.strip_prefix('/')?,
        };
        let mut node = 0u32;
        for raw in p.split('/') {
            let token = raw.replace("~1", "/").replace("~0", "~");
            let found = self.nodes[node as usize]
                .children
                .iter()
                .copied()
                .find(|&c| self.nodes[c as usize].key == token);
            node = match found {
                Some(c) => c,
                None => {
                    let id = self.nodes.len() as u32;
                    let index = parse_index(&token);
                    self.nodes.push(Node { key: token, index, children: Vec::new() });
                    self.nodes[node as usize].children.push(id);
                    id
                }
            };
        }
        Some(node)
    }

    /// How many nodes (the size of the results [`Scanner::scan`] fills).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }
}

/// Reusable buffers for scanning many documents.
#[derive(Debug, Default)]
pub struct Scanner {
    found: Vec<Option<Found>>,
    scratch: Vec<u8>,
}

impl Scanner {
    /// Scans `doc`, resolving every node of `plan`. `false` when the document is malformed;
    /// otherwise [`Scanner::found`] answers each node.
    pub fn scan(&mut self, plan: &Plan, doc: &str) -> bool {
        self.found.clear();
        self.found.resize(plan.len(), None);
        let mut cx = Cx {
            b: doc.as_bytes(),
            s: doc,
            i: 0,
            depth: 0,
            plan,
            found: &mut self.found,
            scratch: &mut self.scratch,
        };
        let ok = cx.document().is_ok();
        if !ok {
            self.found.iter_mut().for_each(|f| *f = None);
        }
        ok
    }

    /// The value at a node of the plan in the last document scanned.
    pub fn found(&self, node: u32) -> Option<Found> {
        self.found.get(node as usize).copied().flatten()
    }
}

/// Malformed.
#[derive(Debug)]
struct Bad;

type R<T> = Result<T, Bad>;

/// Bytes that end the fast run through a string: `"`, `\` and control characters.
static STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

struct Cx<'a> {
    b: &'a [u8],
    s: &'a str,
    i: usize,
    depth: u32,
    plan: &'a Plan,
    found: &'a mut [Option<Found>],
    scratch: &'a mut Vec<u8>,
}

impl Cx<'_> {
    fn document(&mut self) -> R<()> {
        self.value(0)?;
        self.ws();
        if self.i == self.b.len() { Ok(()) } else { Err(Bad) }
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    #[inline]
    fn peek(&self) -> R<u8> {
        self.b.get(self.i).copied().ok_or(Bad)
    }

    #[inline]
    fn expect(&mut self, c: u8) -> R<()> {
        if self.peek()? == c {
            self.i += 1;
            Ok(())
        } else {
            Err(Bad)
        }
    }

    /// Forgets what was found below `node`: a later duplicate key replaces the whole value.
    fn clear_below(&mut self, node: u32) {
        let plan = self.plan;
        for &c in &plan.nodes[node as usize].children {
            self.found[c as usize] = None;
            self.clear_below(c);
        }
    }

    fn value(&mut self, node: u32) -> R<()> {
        self.ws();
        let start = self.i;
        if node != NONE {
            self.clear_below(node);
        }
        let (kind, items) = match self.peek()? {
            b'{' => (Kind::Obj, self.object(node)?),
            b'[' => (Kind::Arr, self.array(node)?),
            b'"' => {
                self.i += 1;
                (Kind::Str { escaped: self.string()? }, 0)
            }
            b't' => self.literal(b"true")?,
            b'f' => self.literal(b"false")?,
            b'n' => self.literal(b"null")?,
            b'-' | b'0'..=b'9' => (Kind::Num { plain: self.number()? }, 0),
            _ => return Err(Bad),
        };
        if node != NONE {
            self.found[node as usize] = Some(Found { start, end: self.i, kind, items });
        }
        Ok(())
    }

    fn literal(&mut self, word: &[u8]) -> R<(Kind, u32)> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok((Kind::Lit, 0))
        } else {
            Err(Bad)
        }
    }

    fn enter(&mut self) -> R<()> {
        self.depth += 1;
        if self.depth >= MAX_DEPTH { Err(Bad) } else { Ok(()) }
    }

    fn object(&mut self, node: u32) -> R<u32> {
        self.enter()?;
        self.i += 1;
        self.ws();
        let mut n = 0u32;
        if self.peek()? == b'}' {
            self.i += 1;
            self.depth -= 1;
            return Ok(0);
        }
        let look = node != NONE && !self.plan.nodes[node as usize].children.is_empty();
        loop {
            self.ws();
            self.expect(b'"')?;
            let kstart = self.i;
            let escaped = self.string()?;
            let child = if look { self.child_key(node, kstart, self.i - 1, escaped) } else { NONE };
            self.ws();
            self.expect(b':')?;
            self.value(child)?;
            n += 1;
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    break;
                }
                _ => return Err(Bad),
            }
        }
        self.depth -= 1;
        Ok(n)
    }

    /// The child of `node` named by the key `b[start..end]` (without quotes).
    fn child_key(&mut self, node: u32, start: usize, end: usize, escaped: bool) -> u32 {
        let key: &[u8] = if escaped {
            self.scratch.clear();
            if unescape_into(&self.s[start..end], self.scratch).is_none() {
                return NONE;
            }
            self.scratch
        } else {
            &self.b[start..end]
        };
        let plan = self.plan;
        plan.nodes[node as usize]
            .children
            .iter()
            .copied()
            .find(|&c| plan.nodes[c as usize].key.as_bytes() == key)
            .unwrap_or(NONE)
    }

    fn array(&mut self, node: u32) -> R<u32> {
        self.enter()?;
        self.i += 1;
        self.ws();
        let mut n = 0u32;
        if self.peek()? == b']' {
            self.i += 1;
            self.depth -= 1;
            return Ok(0);
        }
        let plan = self.plan;
        let look = node != NONE && !plan.nodes[node as usize].children.is_empty();
        loop {
            let child = if look {
                plan.nodes[node as usize]
                    .children
                    .iter()
                    .copied()
                    .find(|&c| plan.nodes[c as usize].index == Some(n as usize))
                    .unwrap_or(NONE)
            } else {
                NONE
            };
            self.value(child)?;
            n += 1;
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    break;
                }
                _ => return Err(Bad),
            }
        }
        self.depth -= 1;
        Ok(n)
    }

    /// The rest of a string after its opening quote, up to and including its closing one.
    /// Returns whether it contains escapes.
    fn string(&mut self) -> R<bool> {
        let mut escaped = false;
        loop {
            self.i = plain_run(self.b, self.i);
            let c = self.peek()?;
            self.i += 1;
            match c {
                b'"' => return Ok(escaped),
                b'\\' => {
                    escaped = true;
                    self.escape()?;
                }
                _ => return Err(Bad), // a control character
            }
        }
    }

    /// One escape after its backslash.
    fn escape(&mut self) -> R<()> {
        match self.peek()? {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {
                self.i += 1;
                Ok(())
            }
            b'u' => {
                self.i += 1;
                let n = self.hex4()?;
                match n {
                    0xDC00..=0xDFFF => Err(Bad),
                    0xD800..=0xDBFF => {
                        self.expect(b'\\')?;
                        self.expect(b'u')?;
                        if (0xDC00..=0xDFFF).contains(&self.hex4()?) { Ok(()) } else { Err(Bad) }
                    }
                    _ => Ok(()),
                }
            }
            _ => Err(Bad),
        }
    }

    fn hex4(&mut self) -> R<u16> {
        let h = self.b.get(self.i..self.i + 4).ok_or(Bad)?;
        let v = hex4(h).ok_or(Bad)?;
        self.i += 4;
        Ok(v)
    }

    /// A number; `true` when it is a plain integer that serde_json keeps as an integer.
    fn number(&mut self) -> R<bool> {
        let start = self.i;
        let neg = self.b[self.i] == b'-';
        if neg {
            self.i += 1;
        }
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => self.digits(),
            _ => return Err(Bad),
        }
        let int_end = self.i;
        let mut float = false;
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            self.digits1()?;
            float = true;
        }
        if let Some(b'e' | b'E') = self.b.get(self.i) {
            self.i += 1;
            if let Some(b'+' | b'-') = self.b.get(self.i) {
                self.i += 1;
            }
            self.digits1()?;
            float = true;
        }
        let digits = int_end - start - usize::from(neg);
        // Up to 18 digits always fit an i64 and a u64; "-0" is a float (-0.0) for serde_json.
        let plain = !float && digits <= 18 && !(neg && self.b[start + 1] == b'0');
        if !plain && !matches!(self.s[start..self.i].parse::<f64>(), Ok(f) if f.is_finite()) {
            return Err(Bad);
        }
        Ok(plain)
    }

    #[inline]
    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn digits1(&mut self) -> R<()> {
        let at = self.i;
        self.digits();
        if self.i > at { Ok(()) } else { Err(Bad) }
    }
}

/// Where the run of string bytes that need no attention (no `"`, `\` or control character)
/// starting at `i` ends: eight bytes at a time, then one at a time.
#[inline]
fn plain_run(b: &[u8], mut i: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = b.get(i..i + 8) {
        let w = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        // A byte equal to `c` becomes zero in `w ^ c*ONES`; `(x - ONES) & !x & HIGH` flags zero
        // bytes and `(w - 0x20*ONES) & !w & HIGH` bytes below 0x20. Borrows only run upwards,
        // so the lowest flag is exact.
        let q = w ^ (ONES * u64::from(b'"'));
        let s = w ^ (ONES * u64::from(b'\\'));
        let m =
            ((q.wrapping_sub(ONES) & !q) | (s.wrapping_sub(ONES) & !s) | (w.wrapping_sub(ONES * 0x20) & !w))
                & HIGH;
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if STOP[c as usize] {
            break;
        }
        i += 1;
    }
    i
}

fn hex4(h: &[u8]) -> Option<u16> {
    let mut v = 0u16;
    for &c in h {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return None,
        };
        v = (v << 4) | u16::from(d);
    }
    Some(v)
}

/// Appends the unescaped text of a string body (between its quotes, already validated).
pub fn unescape_into(body: &str, out: &mut Vec<u8>) -> Option<()> {
    let b = body.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let run = b[i..].iter().position(|&c| c == b'\\').map_or(b.len(), |p| i + p);
        out.extend_from_slice(&b[i..run]);
        i = run;
        if i == b.len() {
            break;
        }
        let c = *b.get(i + 1)?;
        i += 2;
        let ch = match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let n = u32::from(hex4(b.get(i..i + 4)?)?);
                i += 4;
                let cp = if (0xD800..0xDC00).contains(&n) {
                    if b.get(i..i + 2)? != b"\\u" {
                        return None;
                    }
                    let lo = u32::from(hex4(b.get(i + 2..i + 6)?)?);
                    i += 6;
                    if !(0xDC00..0xE000).contains(&lo) {
                        return None;
                    }
                    0x10000 + ((n - 0xD800) << 10) + (lo - 0xDC00)
                } else {
                    n
                };
                char::from_u32(cp)?
            }
            _ => return None,
        };
        let mut buf = [0u8; 4];
        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
    }
    Some(())
}

/// The text of a string value `doc[f.start..f.end]` (with its quotes), unescaped.
pub fn string_text<'a>(doc: &'a str, f: &Found) -> Option<Cow<'a, str>> {
    let body = &doc[f.start + 1..f.end - 1];
    match f.kind {
        Kind::Str { escaped: false } => Some(Cow::Borrowed(body)),
        Kind::Str { escaped: true } => {
            let mut out = Vec::with_capacity(body.len());
            unescape_into(body, &mut out)?;
            String::from_utf8(out).ok().map(Cow::Owned)
        }
        _ => None,
    }
}

/// How many distinct keys the object `doc[f.start..f.end]` has (serde_json keeps the last of
/// duplicates, so `{"a":1,"a":2}` has one).
pub fn distinct_keys(doc: &str, f: &Found) -> Option<u64> {
    if f.kind != Kind::Obj {
        return None;
    }
    if f.items <= 1 {
        return Some(u64::from(f.items));
    }
    let plan = Plan::new();
    let mut found = [None];
    let mut scratch = Vec::new();
    let mut cx = Cx {
        b: doc.as_bytes(),
        s: doc,
        i: f.start + 1,
        depth: 0,
        plan: &plan,
        found: &mut found,
        scratch: &mut scratch,
    };
    let mut keys: Vec<Cow<'_, str>> = Vec::with_capacity(f.items as usize);
    for _ in 0..f.items {
        cx.ws();
        cx.expect(b'"').ok()?;
        let kstart = cx.i;
        let escaped = cx.string().ok()?;
        let k = Found { start: kstart - 1, end: cx.i, kind: Kind::Str { escaped }, items: 0 };
        keys.push(string_text(doc, &k)?);
        cx.ws();
        cx.expect(b':').ok()?;
        cx.value(NONE).ok()?;
        cx.ws();
        cx.i += 1; // ',' or '}'
    }
    keys.sort_unstable();
    keys.dedup();
    Some(keys.len() as u64)
}
