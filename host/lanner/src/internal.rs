//! The names of Lanner's own alerts (source `internal`), where every part that raises or
//! routes them finds them.

/// Records lost in the kernel (Falco's name for it).
pub(crate) const DROP_RULE: &str = "Lanner internal: syscall event drop";

/// A reload that was rejected.
pub(crate) const RELOAD_RULE: &str = "Lanner internal: reload failed";

/// A plugin disabled after repeated failures, or a source that stopped.
pub(crate) const PLUGIN_DISABLED_RULE: &str = "Lanner internal: plugin disabled";

/// State entries evicted because a table was full: rules may miss what they held.
pub(crate) const STATE_FULL_RULE: &str = "Lanner internal: state tables full";

/// Falco's name for the drop alert (`internal_alerts.falco_names`).
pub(crate) const FALCO_DROP_RULE: &str = "Falco internal: syscall event drop";
