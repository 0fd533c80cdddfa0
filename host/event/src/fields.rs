use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

/// A field's type. Named as Falco names them, so `list-fields` reads the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// Text (`CHARBUF`).
    String,
    /// A file system path (`FSPATH`): text, compared as text.
    FsPath,
    /// A signed 64-bit integer (`INT64`), also fds, pids and errnos.
    Int64,
    /// An unsigned 64-bit integer (`UINT64`).
    UInt64,
    /// An unsigned 32-bit integer (`UINT32`).
    UInt32,
    /// A TCP or UDP port (`PORT`).
    Port,
    /// A boolean (`BOOL`).
    Bool,
    /// An IPv4 or IPv6 address (`IPADDR`).
    IpAddr,
    /// An address compared against networks: `fd.net = 10.0.0.0/8` (`IPNET`).
    IpNet,
    /// An absolute time, nanoseconds since the epoch (`ABSTIME`).
    AbsTime,
    /// A duration in nanoseconds (`RELTIME`).
    RelTime,
    /// Raw bytes (`BYTEBUF`).
    Bytes,
    /// A list of text values (`LIST`).
    StringList,
}

impl FieldType {
    /// Falco's name of the type.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::String => "CHARBUF",
            FieldType::FsPath => "FSPATH",
            FieldType::Int64 => "INT64",
            FieldType::UInt64 => "UINT64",
            FieldType::UInt32 => "UINT32",
            FieldType::Port => "PORT",
            FieldType::Bool => "BOOL",
            FieldType::IpAddr => "IPADDR",
            FieldType::IpNet => "IPNET",
            FieldType::AbsTime => "ABSTIME",
            FieldType::RelTime => "RELTIME",
            FieldType::Bytes => "BYTEBUF",
            FieldType::StringList => "LIST",
        }
    }

    /// Whether values are numbers (ordered comparisons apply).
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            FieldType::Int64
                | FieldType::UInt64
                | FieldType::UInt32
                | FieldType::Port
                | FieldType::AbsTime
                | FieldType::RelTime
        )
    }

    /// Whether values are text (string operators apply).
    pub fn is_text(self) -> bool {
        matches!(self, FieldType::String | FieldType::FsPath | FieldType::StringList)
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of argument a field takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    /// No argument.
    None,
    /// A number: `proc.aname[2]`.
    Index,
    /// A name: `proc.env[HOME]`, `evt.arg.flags`.
    Key,
    /// Either: `evt.arg[0]` or `evt.arg.fd`.
    IndexOrKey,
}

/// A field's argument rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArgSpec {
    /// The kind of argument.
    pub kind: ArgKind,
    /// Whether the field is meaningless without one.
    pub required: bool,
    /// Whether the argument may be written after a dot (`evt.arg.flags`) as well as in brackets.
    pub dotted: bool,
}

impl ArgSpec {
    /// No argument.
    pub const NONE: ArgSpec = ArgSpec { kind: ArgKind::None, required: false, dotted: false };
    /// An optional index: `proc.aname` or `proc.aname[2]`.
    pub const OPT_INDEX: ArgSpec = ArgSpec { kind: ArgKind::Index, required: false, dotted: false };
    /// A required index.
    pub const INDEX: ArgSpec = ArgSpec { kind: ArgKind::Index, required: true, dotted: false };
    /// A required key in brackets: `proc.env[HOME]`.
    pub const KEY: ArgSpec = ArgSpec { kind: ArgKind::Key, required: true, dotted: false };
    /// An optional key in brackets.
    pub const OPT_KEY: ArgSpec = ArgSpec { kind: ArgKind::Key, required: false, dotted: false };
    /// A required index or key, dotted or in brackets: `evt.arg.flags`, `evt.arg[0]`.
    pub const ARG: ArgSpec = ArgSpec { kind: ArgKind::IndexOrKey, required: true, dotted: true };
}

/// One field a rule may use.
#[derive(Debug, Clone)]
pub struct FieldDef {
    /// Its name, such as `proc.aname`.
    pub name: Cow<'static, str>,
    /// Its type.
    pub ftype: FieldType,
    /// Its argument rules.
    pub arg: ArgSpec,
    /// What it means.
    pub desc: Cow<'static, str>,
    /// Who provides it: `syscall` for capture, or a plugin's name.
    pub provider: Cow<'static, str>,
}

/// A field's index in a [`FieldRegistry`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldId(pub u32);

/// Why a field could not be registered.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RegistryError {
    /// Two providers declared the same name.
    #[error("field {name} is already provided by {existing}; {provider} cannot provide it too")]
    Duplicate {
        /// The field's name.
        name: String,
        /// Who has it already.
        existing: String,
        /// Who tried to add it.
        provider: String,
    },
    /// A name that is not `class.name` form.
    #[error("invalid field name '{0}': expected a dotted name such as proc.name")]
    InvalidName(String),
}

/// Every field a rule may use, by name and by id. Capture registers its fields at start and
/// plugins add theirs when they load.
#[derive(Debug, Clone, Default)]
pub struct FieldRegistry {
    fields: Vec<FieldDef>,
    by_name: HashMap<String, FieldId>,
}

impl FieldRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// A registry holding the syscall source's fields.
    pub fn with_syscall_fields() -> Self {
        let mut reg = Self::new();
        for def in crate::syscall_fields::FIELDS {
            reg.add(FieldDef {
                name: Cow::Borrowed(def.name),
                ftype: def.ftype,
                arg: def.arg,
                desc: Cow::Borrowed(def.desc),
                provider: Cow::Borrowed(crate::SYSCALL_SOURCE),
            })
            .expect("the built-in syscall field table has unique names");
        }
        reg
    }

    /// Adds a field, refusing a name that is already taken.
    pub fn add(&mut self, def: FieldDef) -> Result<FieldId, RegistryError> {
        if !def.name.contains('.') || def.name.starts_with('.') || def.name.ends_with('.') {
            return Err(RegistryError::InvalidName(def.name.into_owned()));
        }
        if let Some(id) = self.by_name.get(def.name.as_ref()) {
            return Err(RegistryError::Duplicate {
                name: def.name.into_owned(),
                existing: self.fields[id.0 as usize].provider.to_string(),
                provider: def.provider.into_owned(),
            });
        }
        let id = FieldId(self.fields.len() as u32);
        self.by_name.insert(def.name.to_string(), id);
        self.fields.push(def);
        Ok(id)
    }

    /// Looks a field up by its exact name.
    pub fn get(&self, name: &str) -> Option<FieldId> {
        self.by_name.get(name).copied()
    }

    /// Resolves a name as written in a rule, where a dotted argument may follow the field
    /// (`evt.arg.flags`): returns the field and the argument text.
    pub fn resolve<'n>(&self, name: &'n str) -> Option<(FieldId, Option<&'n str>)> {
        if let Some(id) = self.get(name) {
            return Some((id, None));
        }
        let mut end = name.len();
        while let Some(dot) = name[..end].rfind('.') {
            if let Some(id) = self.get(&name[..dot]) {
                if self.def(id).arg.dotted && dot + 1 < name.len() {
                    return Some((id, Some(&name[dot + 1..])));
                }
                return None;
            }
            end = dot;
        }
        None
    }

    /// The definition of a field.
    pub fn def(&self, id: FieldId) -> &FieldDef {
        &self.fields[id.0 as usize]
    }

    /// Every field, in registration order.
    pub fn iter(&self) -> impl Iterator<Item = (FieldId, &FieldDef)> {
        self.fields.iter().enumerate().map(|(i, d)| (FieldId(i as u32), d))
    }

    /// How many fields there are.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}
