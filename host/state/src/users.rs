//! User and group names from the host's `/etc/passwd` and `/etc/group`, cached, and
//! reread (at most once a second) when an id is not found, so that accounts created after
//! start are named.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A user's name and home directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Login name.
    pub name: String,
    /// Primary group id.
    pub gid: u32,
    /// Home directory.
    pub home: String,
    /// Login shell.
    pub shell: String,
}

/// Names of users and groups by id.
#[derive(Debug)]
pub struct Users {
    passwd: PathBuf,
    group: PathBuf,
    users: HashMap<u32, User>,
    groups: HashMap<u32, String>,
    loaded: Option<Instant>,
}

impl Users {
    /// Reads the host's account databases.
    pub fn new() -> Self {
        Self::from_files("/etc/passwd".into(), "/etc/group".into())
    }

    /// Reads the account databases of a host whose root is seen at `root` (a container
    /// with the host's /etc mounted below it).
    pub fn under(root: &std::path::Path) -> Self {
        Self::from_files(root.join("etc/passwd"), root.join("etc/group"))
    }

    /// Reads the given files (for tests).
    pub fn from_files(passwd: PathBuf, group: PathBuf) -> Self {
        let mut u = Users { passwd, group, users: HashMap::new(), groups: HashMap::new(), loaded: None };
        u.reload();
        u
    }

    fn reload(&mut self) {
        self.loaded = Some(Instant::now());
        if let Ok(text) = std::fs::read_to_string(&self.passwd) {
            self.users = text
                .lines()
                .filter_map(|l| {
                    let f: Vec<&str> = l.split(':').collect();
                    let uid = f.get(2)?.parse().ok()?;
                    Some((
                        uid,
                        User {
                            name: f[0].to_string(),
                            gid: f.get(3).and_then(|g| g.parse().ok()).unwrap_or(u32::MAX),
                            home: f.get(5).unwrap_or(&"").to_string(),
                            shell: f.get(6).unwrap_or(&"").to_string(),
                        },
                    ))
                })
                .collect();
        }
        if let Ok(text) = std::fs::read_to_string(&self.group) {
            self.groups = text
                .lines()
                .filter_map(|l| {
                    let f: Vec<&str> = l.split(':').collect();
                    Some((f.get(2)?.parse().ok()?, f[0].to_string()))
                })
                .collect();
        }
    }

    fn maybe_reload(&mut self) {
        if self.passwd.as_os_str().is_empty() {
            return;
        }
        if self.loaded.is_none_or(|t| t.elapsed() > Duration::from_secs(1)) {
            self.reload();
        }
    }

    /// Fixed tables, never read from files: the users and groups of another machine (a
    /// capture file's user list), so that names are the ones its processes had.
    pub fn from_entries(
        users: impl IntoIterator<Item = (u32, User)>,
        groups: impl IntoIterator<Item = (u32, String)>,
    ) -> Self {
        Users {
            passwd: PathBuf::new(),
            group: PathBuf::new(),
            users: users.into_iter().collect(),
            groups: groups.into_iter().collect(),
            // Never reloaded: there is no file behind them.
            loaded: None,
        }
    }

    /// Makes sure the names of these ids are known, rereading the files if one is new.
    pub fn learn(&mut self, uid: u32, gid: u32) {
        if !self.users.contains_key(&uid) || !self.groups.contains_key(&gid) {
            self.maybe_reload();
        }
    }

    /// A user by id.
    pub fn user(&self, uid: u32) -> Option<&User> {
        self.users.get(&uid)
    }

    /// A group's name by id.
    pub fn group(&self, gid: u32) -> Option<&str> {
        self.groups.get(&gid).map(String::as_str)
    }

    /// Every user known, by uid: a capture file carries the account table so that a reader
    /// on another host names the users of this one.
    pub fn users(&self) -> impl Iterator<Item = (u32, &User)> {
        self.users.iter().map(|(uid, u)| (*uid, u))
    }

    /// Every group known, by gid.
    pub fn groups(&self) -> impl Iterator<Item = (u32, &str)> {
        self.groups.iter().map(|(gid, n)| (*gid, n.as_str()))
    }
}

impl Default for Users {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_host_accounts() {
        let u = Users::new();
        assert_eq!(u.user(0).unwrap().name, "root");
        assert_eq!(u.user(0).unwrap().gid, 0);
        assert!(u.users().any(|(uid, _)| uid == 0) && u.groups().any(|(gid, n)| gid == 0 && n == "root"));
        assert_eq!(u.group(0), Some("root"));
        assert!(u.user(4_000_000_000).is_none());
    }
}
