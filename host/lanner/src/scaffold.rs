//! `lanner plugin new`: a plugin project that builds as it is written, in Rust, Python or
//! JavaScript, for each kind of plugin. The templates are compiled into the binary, so that
//! an installed `lanner` scaffolds without a checkout; a Rust project still needs the SDK,
//! found beside the binary's sources or where the Debian package installs it.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// What `lanner plugin new` takes.
#[derive(clap::Args)]
pub struct NewArgs {
    /// The plugin's name: a lowercase letter, then lowercase letters, digits or `_`. It names
    /// the component (NAME.wasm), its fields (NAME.FIELD) and a source's event source.
    name: String,
    /// The kind of plugin.
    #[arg(long, value_enum)]
    kind: Kind,
    /// The language it is written in.
    #[arg(long, value_enum, default_value_t = Lang::Rust)]
    lang: Lang,
    /// Where to write the project (default ./NAME); it must not exist or be empty.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// The Lanner plugin SDK to depend on, a folder (Rust only). Default: the SDK of the
    /// checkout this binary was built from, else the one the Debian package installs, else
    /// the SDK from Lanner's git repository.
    #[arg(long, value_name = "PATH")]
    sdk: Option<PathBuf>,
}

/// The world a plugin implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// Fields over events (of every source, syscall events included).
    Extractor,
    /// Events of its own source, and fields over them.
    Source,
    /// Alert delivery.
    Sink,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Extractor => "extractor",
            Kind::Source => "source",
            Kind::Sink => "sink",
        }
    }
}

/// The language of the project.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// Rust, with Lanner's plugin SDK.
    Rust,
    /// Python, with componentize-py.
    Python,
    /// JavaScript, with jco and ComponentizeJS.
    Javascript,
}

/// Where the Debian package installs the SDK (with its WIT), for `plugin new` without a
/// checkout.
pub const PACKAGED_SDK: &str = "/usr/share/lanner/plugin-sdk";

/// The Lanner repository, for the SDK's git dependency form.
const REPOSITORY: &str = "https://github.com/lanner-dev/lanner";

mod templates {
    pub const README: &str = include_str!("../templates/common/README.md");
    pub const TRY_EXTRACTOR: &str = include_str!("../templates/common/try-extractor.md");
    pub const TRY_SOURCE: &str = include_str!("../templates/common/try-source.md");
    pub const TRY_SINK: &str = include_str!("../templates/common/try-sink.md");
    pub const YAML_EXTRACTOR: &str = include_str!("../templates/common/extractor.yaml");
    pub const YAML_SOURCE: &str = include_str!("../templates/common/source.yaml");
    pub const YAML_SINK: &str = include_str!("../templates/common/sink.yaml");
    pub const RULES_EXTRACTOR: &str = include_str!("../templates/common/extractor.rules.yaml");
    pub const RULES_SOURCE: &str = include_str!("../templates/common/source.rules.yaml");
    pub const RULES_SINK: &str = include_str!("../templates/common/sink.rules.yaml");
    pub const EVENTS_EXTRACTOR: &str = include_str!("../templates/common/extractor.events.json");

    pub const RUST_CARGO: &str = include_str!("../templates/rust/Cargo.toml");
    pub const RUST_BUILD: &str = include_str!("../templates/rust/build.sh");
    pub const RUST_README: &str = include_str!("../templates/rust/README-build.md");
    pub const RUST_GITIGNORE: &str = include_str!("../templates/rust/gitignore");
    pub const RUST_EXTRACTOR: &str = include_str!("../templates/rust/extractor.rs");
    pub const RUST_SOURCE: &str = include_str!("../templates/rust/source.rs");
    pub const RUST_SINK: &str = include_str!("../templates/rust/sink.rs");
    /// The lock file of a shipped plugin using the SDK: the versions Lanner builds and tests
    /// its plugins with, and a build that needs no registry index when they are cached.
    pub const RUST_LOCK: &str = include_str!("../../../plugins/file/Cargo.lock");
    pub const RUST_LOCK_PACKAGE: &str = "name = \"lanner-plugin-file\"";

    pub const PYTHON_BUILD: &str = include_str!("../templates/python/build.sh");
    pub const PYTHON_README: &str = include_str!("../templates/python/README-build.md");
    pub const PYTHON_GITIGNORE: &str = include_str!("../templates/python/gitignore");
    pub const PYTHON_EXTRACTOR: &str = include_str!("../templates/python/extractor.py");
    pub const PYTHON_SOURCE: &str = include_str!("../templates/python/source.py");
    pub const PYTHON_SINK: &str = include_str!("../templates/python/sink.py");

    pub const JS_BUILD: &str = include_str!("../templates/javascript/build.sh");
    pub const JS_README: &str = include_str!("../templates/javascript/README-build.md");
    pub const JS_GITIGNORE: &str = include_str!("../templates/javascript/gitignore");
    pub const JS_PACKAGE: &str = include_str!("../templates/javascript/package.json");
    pub const JS_EXTRACTOR: &str = include_str!("../templates/javascript/extractor.js");
    pub const JS_SOURCE: &str = include_str!("../templates/javascript/source.js");

    /// The 0.1.0 interface, which Python and JavaScript projects build against (their tools
    /// take one WIT folder; the later versions add what the Rust SDK uses).
    pub const WIT: &str = include_str!("../../../wit/plugin.wit");
}

/// Rust keywords, which cargo refuses as package names.
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate", "do", "dyn",
    "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let", "loop",
    "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref", "return", "self", "static",
    "struct", "super", "trait", "true", "try", "type", "typeof", "unsafe", "unsized", "use", "virtual",
    "where", "while", "yield",
];

/// Checks a plugin name: it becomes a file name, a Cargo package name, a field class and a
/// source name, so it is held to what all of them accept.
pub fn check_name(name: &str) -> Result<()> {
    let valid = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        bail!(
            "invalid plugin name {name:?}: use a lowercase letter, then lowercase letters, digits or _ \
             (at most 64 characters); it names the component ({name}.wasm), its fields and its source"
        );
    }
    if KEYWORDS.contains(&name) {
        bail!("invalid plugin name {name:?}: a Rust keyword, which cargo refuses as a package name");
    }
    if name == "syscall" {
        bail!("invalid plugin name \"syscall\": the event source of Lanner's own syscall events");
    }
    let class = format!("{name}.");
    let registry = lanner_event::FieldRegistry::with_syscall_fields();
    if let Some((_, f)) = registry.iter().find(|(_, f)| f.name.starts_with(&class)) {
        bail!("invalid plugin name {name:?}: a field class of Lanner's own ({}); pick another", f.name);
    }
    Ok(())
}

/// The SDK a Rust project depends on, and how the README describes it.
enum Sdk {
    Path(PathBuf),
    Git,
}

fn is_sdk(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("Cargo.toml"))
        .is_ok_and(|t| t.lines().any(|l| l.trim() == "name = \"lanner-plugin-sdk\""))
}

fn find_sdk(given: Option<&Path>) -> Result<Sdk> {
    if let Some(dir) = given {
        let abs = dir.canonicalize().with_context(|| format!("--sdk {}", dir.display()))?;
        if !is_sdk(&abs) {
            bail!(
                "--sdk {}: not the Lanner plugin SDK (no Cargo.toml of lanner-plugin-sdk there)",
                dir.display()
            );
        }
        return Ok(Sdk::Path(abs));
    }
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugin-sdk");
    for dir in [checkout.as_path(), Path::new(PACKAGED_SDK)] {
        if is_sdk(dir) {
            return Ok(Sdk::Path(
                dir.canonicalize().with_context(|| format!("resolving {}", dir.display()))?,
            ));
        }
    }
    Ok(Sdk::Git)
}

/// A project's files: relative path, contents, executable.
type Files = Vec<(String, String, bool)>;

fn render(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (k, v) in vars {
        out = out.replace(&format!("{{{{{k}}}}}"), v);
    }
    debug_assert!(!out.contains("{{"), "a template placeholder left unfilled: {out}");
    out
}

/// The files of a project, without writing them; `sdk` is used by Rust projects only.
fn files(name: &str, kind: Kind, lang: Lang, sdk: &Sdk) -> Files {
    use templates as t;
    let kind_s = kind.as_str();
    let description = format!("A Lanner {kind_s} made with lanner plugin new");
    let (sdk_dependency, sdk_form) = match sdk {
        Sdk::Path(p) => (
            format!(
                "lanner-plugin-sdk = {{ path = {:?}, features = [\"{kind_s}\"] }}",
                p.display().to_string()
            ),
            format!("the path form, to the SDK at `{}`", p.display()),
        ),
        Sdk::Git => (
            format!("lanner-plugin-sdk = {{ git = \"{REPOSITORY}\", features = [\"{kind_s}\"] }}"),
            "the git form (no SDK was found on this machine)".to_string(),
        ),
    };
    let (limits, limits_indented) = match lang {
        // The interpreter is inside the component.
        Lang::Python => (
            "limits:\n  memory_mb: 256               # the Python interpreter is inside the component\n",
            "    limits: {memory_mb: 256}    # the Python interpreter is inside the component\n",
        ),
        Lang::Rust | Lang::Javascript => ("", ""),
    };
    let lang_name = match lang {
        Lang::Rust => "Rust",
        Lang::Python => "Python",
        Lang::Javascript => "JavaScript",
    };
    let vars: Vec<(&str, &str)> = vec![
        ("name", name),
        ("kind", kind_s),
        ("world", kind_s),
        ("description", &description),
        ("sdk_dependency", &sdk_dependency),
        ("sdk_form", &sdk_form),
        ("limits", limits),
        ("limits_indented", limits_indented),
        ("lang_name", lang_name),
    ];
    let r = |tpl: &str| render(tpl, &vars);
    let (build_readme, try_section) = (
        r(match lang {
            Lang::Rust => t::RUST_README,
            Lang::Python => t::PYTHON_README,
            Lang::Javascript => t::JS_README,
        }),
        r(match kind {
            Kind::Extractor => t::TRY_EXTRACTOR,
            Kind::Source => t::TRY_SOURCE,
            Kind::Sink => t::TRY_SINK,
        }),
    );
    let readme = render(
        t::README,
        &[
            ("name", name),
            ("kind", kind_s),
            ("lang_name", lang_name),
            ("build_section", &build_readme),
            ("try_section", &try_section),
        ],
    );
    let yaml = r(match kind {
        Kind::Extractor => t::YAML_EXTRACTOR,
        Kind::Source => t::YAML_SOURCE,
        Kind::Sink => t::YAML_SINK,
    });
    let rules = r(match kind {
        Kind::Extractor => t::RULES_EXTRACTOR,
        Kind::Source => t::RULES_SOURCE,
        Kind::Sink => t::RULES_SINK,
    });
    let mut out: Files = vec![
        ("README.md".into(), readme, false),
        (format!("{name}.yaml"), yaml, false),
        ("rules.yaml".into(), rules, false),
    ];
    if kind == Kind::Extractor {
        out.push(("events.json".into(), t::EVENTS_EXTRACTOR.to_string(), false));
    }
    match lang {
        Lang::Rust => {
            out.push(("Cargo.toml".into(), r(t::RUST_CARGO), false));
            out.push((
                "Cargo.lock".into(),
                t::RUST_LOCK.replace(t::RUST_LOCK_PACKAGE, &format!("name = \"{name}\"")),
                false,
            ));
            out.push(("build.sh".into(), r(t::RUST_BUILD), true));
            out.push((".gitignore".into(), r(t::RUST_GITIGNORE), false));
            let lib = match kind {
                Kind::Extractor => t::RUST_EXTRACTOR,
                Kind::Source => t::RUST_SOURCE,
                Kind::Sink => t::RUST_SINK,
            };
            out.push(("src/lib.rs".into(), r(lib), false));
        }
        Lang::Python => {
            out.push(("build.sh".into(), r(t::PYTHON_BUILD), true));
            out.push((".gitignore".into(), r(t::PYTHON_GITIGNORE), false));
            out.push(("wit/plugin.wit".into(), t::WIT.to_string(), false));
            let app = match kind {
                Kind::Extractor => t::PYTHON_EXTRACTOR,
                Kind::Source => t::PYTHON_SOURCE,
                Kind::Sink => t::PYTHON_SINK,
            };
            out.push(("app.py".into(), r(app), false));
        }
        Lang::Javascript => {
            out.push(("build.sh".into(), r(t::JS_BUILD), true));
            out.push((".gitignore".into(), r(t::JS_GITIGNORE), false));
            out.push(("package.json".into(), r(t::JS_PACKAGE), false));
            out.push(("wit/plugin.wit".into(), t::WIT.to_string(), false));
            let js = match kind {
                Kind::Extractor => t::JS_EXTRACTOR,
                Kind::Source | Kind::Sink => t::JS_SOURCE,
            };
            out.push(("plugin.js".into(), r(js), false));
        }
    }
    out
}

/// Writes the project and says what was written and what to run next.
pub fn new(args: NewArgs) -> Result<()> {
    check_name(&args.name)?;
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from(&args.name));
    match std::fs::read_dir(&dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                bail!(
                    "{} exists and is not empty: lanner plugin new writes a new project (give another --dir)",
                    dir.display()
                );
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    }
    if args.lang == Lang::Javascript && args.kind == Kind::Sink {
        bail!(
            "no JavaScript sink template: a ComponentizeJS component has no file system to write \
             alerts to (its WASI imports are fixed by ComponentizeJS); write the sink in Rust or Python"
        );
    }
    if args.sdk.is_some() && args.lang != Lang::Rust {
        bail!("--sdk is for Rust projects: Python and JavaScript projects carry Lanner's WIT instead");
    }
    let sdk = if args.lang == Lang::Rust { find_sdk(args.sdk.as_deref())? } else { Sdk::Git };
    for (rel, text, exec) in files(&args.name, args.kind, args.lang, &sdk) {
        let path = dir.join(&rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        if exec {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .with_context(|| format!("making {} executable", path.display()))?;
        }
    }
    let lang = match args.lang {
        Lang::Rust => "Rust",
        Lang::Python => "Python",
        Lang::Javascript => "JavaScript",
    };
    println!("Created {}: a {lang} {} plugin named {}.", dir.display(), args.kind.as_str(), args.name);
    if args.lang == Lang::Rust {
        match &sdk {
            Sdk::Path(p) => println!("The SDK is a path dependency on {}.", p.display()),
            Sdk::Git => println!(
                "No SDK on this machine (neither this binary's checkout nor {PACKAGED_SDK}): the SDK \
                 is a git dependency on {REPOSITORY}."
            ),
        }
    }
    println!("Build it with: cd {} && ./build.sh  (README.md says how to try it)", dir.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_held_to_what_files_fields_and_cargo_accept() {
        for ok in ["upper", "my_plugin2", "a"] {
            check_name(ok).unwrap();
        }
        for (bad, why) in [
            ("", "invalid plugin name"),
            ("My", "lowercase letter"),
            ("2x", "lowercase letter"),
            ("a-b", "lowercase letter"),
            ("a.b", "lowercase letter"),
            ("../x", "lowercase letter"),
            ("fn", "Rust keyword"),
            ("syscall", "syscall events"),
            ("proc", "field class of Lanner's own (proc."),
            ("fd", "field class of Lanner's own (fd."),
        ] {
            let err = check_name(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
        assert!(check_name(&"a".repeat(65)).is_err());
    }

    #[test]
    fn every_template_is_filled() {
        for kind in [Kind::Extractor, Kind::Source, Kind::Sink] {
            for lang in [Lang::Rust, Lang::Python, Lang::Javascript] {
                if (lang, kind) == (Lang::Javascript, Kind::Sink) {
                    continue;
                }
                for sdk in [Sdk::Path("/x/plugin-sdk".into()), Sdk::Git] {
                    for (path, text, _) in files("demo", kind, lang, &sdk) {
                        assert!(!text.contains("{{"), "{kind:?} {lang:?} {path}: {text}");
                        if path != "wit/plugin.wit" && path != "Cargo.lock" && path != "events.json" {
                            assert!(text.contains("demo"), "{kind:?} {lang:?} {path} names the plugin");
                        }
                    }
                }
            }
        }
        let lock = files("demo", Kind::Sink, Lang::Rust, &Sdk::Git)
            .into_iter()
            .find(|(p, ..)| p == "Cargo.lock")
            .unwrap()
            .1;
        assert!(lock.contains("name = \"demo\""), "the lock's root package is the project");
    }
}
