use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;

/// A field's value for one event.
///
/// Borrowed where the event already holds the bytes, so that extracting a field for a
/// comparison does not allocate.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// Text: names, paths, command lines.
    Str(Cow<'a, str>),
    /// A signed integer (`INT64`, and the smaller signed types).
    Int(i64),
    /// An unsigned integer (`UINT64`, ports, times).
    UInt(u64),
    /// A boolean.
    Bool(bool),
    /// An IPv4 or IPv6 address.
    Ip(IpAddr),
    /// Raw bytes (`BYTEBUF`).
    Bytes(Cow<'a, [u8]>),
    /// Several values, for fields that hold a list (ancestors, arguments).
    List(Vec<Value<'a>>),
}

impl Value<'_> {
    /// Detaches the value from the event it was read from.
    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Str(s) => Value::Str(Cow::Owned(s.into_owned())),
            Value::Int(i) => Value::Int(i),
            Value::UInt(u) => Value::UInt(u),
            Value::Bool(b) => Value::Bool(b),
            Value::Ip(ip) => Value::Ip(ip),
            Value::Bytes(b) => Value::Bytes(Cow::Owned(b.into_owned())),
            Value::List(l) => Value::List(l.into_iter().map(Value::into_owned).collect()),
        }
    }

    /// The value as text when it is text.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

impl fmt::Display for Value<'_> {
    /// Falco's rendering in outputs: lists as `(a,b)`, bytes as lossy text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => f.write_str(s),
            Value::Int(i) => write!(f, "{i}"),
            Value::UInt(u) => write!(f, "{u}"),
            Value::Bool(b) => f.write_str(if *b { "true" } else { "false" }),
            Value::Ip(ip) => write!(f, "{ip}"),
            Value::Bytes(b) => f.write_str(&String::from_utf8_lossy(b)),
            Value::List(items) => {
                f.write_str("(")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str(")")
            }
        }
    }
}
