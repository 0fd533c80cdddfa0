//! What Lanner says about the node it runs on.

/// The variables that override the alert hostname, first set wins: Lanner's own, then
/// Falco's (`FALCO_HOSTNAME`, which Falco's chart sets from `spec.nodeName`), so that a pod
/// without the host's network reports its node rather than its pod name.
pub(crate) const HOSTNAME_VARS: [&str; 2] = ["LANNER_HOSTNAME", "FALCO_HOSTNAME"];

/// The variable overriding the hostname and its value, when one is set. As in Falco, a set
/// variable is used as it is, even empty.
pub(crate) fn hostname_override() -> Option<(&'static str, String)> {
    HOSTNAME_VARS.iter().find_map(|v| std::env::var(v).ok().map(|value| (*v, value)))
}

/// The hostname alerts carry: the override, else the kernel's (the UTS namespace's, as
/// gethostname gives it).
pub(crate) fn hostname() -> String {
    if let Some((_, value)) = hostname_override() {
        return value;
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}
