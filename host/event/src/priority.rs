use std::fmt;
use std::str::FromStr;

/// A rule's priority, Falco's syslog-like scale, ordered from most to least severe; compare
/// with [`Priority::at_least`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// System is unusable.
    Emergency,
    /// Action must be taken immediately.
    Alert,
    /// Critical conditions.
    Critical,
    /// Error conditions.
    Error,
    /// Warning conditions.
    Warning,
    /// Normal but significant.
    Notice,
    /// Informational.
    #[serde(alias = "info")]
    Informational,
    /// Debug-level messages.
    Debug,
}

/// A priority name that is not one of Falco's.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "invalid priority '{0}': expected one of emergency, alert, critical, error, warning, notice, informational (info), debug"
)]
pub struct ParsePriorityError(pub String);

impl Priority {
    /// Every priority, most severe first.
    pub const ALL: [Priority; 8] = [
        Priority::Emergency,
        Priority::Alert,
        Priority::Critical,
        Priority::Error,
        Priority::Warning,
        Priority::Notice,
        Priority::Informational,
        Priority::Debug,
    ];

    /// Falco's capitalised name, as printed in alerts (`Warning`, `Informational`).
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Emergency => "Emergency",
            Priority::Alert => "Alert",
            Priority::Critical => "Critical",
            Priority::Error => "Error",
            Priority::Warning => "Warning",
            Priority::Notice => "Notice",
            Priority::Informational => "Informational",
            Priority::Debug => "Debug",
        }
    }

    /// Whether this priority is as severe as `threshold` or more.
    pub fn at_least(self, threshold: Priority) -> bool {
        self <= threshold
    }
}

impl FromStr for Priority {
    type Err = ParsePriorityError;

    /// Accepts any case, and `info` for informational, as Falco does.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let p = match s.trim().to_ascii_lowercase().as_str() {
            "emergency" => Priority::Emergency,
            "alert" => Priority::Alert,
            "critical" => Priority::Critical,
            "error" => Priority::Error,
            "warning" => Priority::Warning,
            "notice" => Priority::Notice,
            "informational" | "info" => Priority::Informational,
            "debug" => Priority::Debug,
            _ => return Err(ParsePriorityError(s.to_string())),
        };
        Ok(p)
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_any_case_and_info() {
        assert_eq!("WARNING".parse::<Priority>().unwrap(), Priority::Warning);
        assert_eq!("Info".parse::<Priority>().unwrap(), Priority::Informational);
        assert!("severe".parse::<Priority>().is_err());
        assert!(Priority::Critical.at_least(Priority::Warning));
        assert!(!Priority::Notice.at_least(Priority::Warning));
    }
}
