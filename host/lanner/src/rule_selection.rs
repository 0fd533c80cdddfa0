//! Falco's `rules:` section (0.38 and later): rules enabled or disabled by name pattern and
//! by tag after every rules file has loaded, item by item in order, over what the files say.

use lanner_engine::Ruleset;
use serde::Deserialize;

/// One item of `rules:`: `{enable: {rule: P, tag: T}}` or `{disable: ...}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub enable: bool,
    /// A rule name; `*` matches any run of characters.
    pub rule: Option<String>,
    /// A tag, matched exactly (Falco has no wildcard for tags).
    pub tag: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Target {
    #[serde(default)]
    rule: Option<String>,
    #[serde(default)]
    tag: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Item {
    #[serde(default)]
    enable: Option<Target>,
    #[serde(default)]
    disable: Option<Target>,
}

impl<'de> Deserialize<'de> for Selection {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let item = Item::deserialize(d)?;
        let (enable, target) = match (item.enable, item.disable) {
            (Some(t), None) => (true, t),
            (None, Some(t)) => (false, t),
            (Some(_), Some(_)) => {
                return Err(D::Error::custom("an item is either enable or disable, not both"));
            }
            (None, None) => {
                return Err(D::Error::custom("an item is enable: {rule/tag} or disable: {rule/tag}"));
            }
        };
        let rule = target.rule.filter(|r| !r.is_empty());
        let tag = target.tag.filter(|t| !t.is_empty());
        if rule.is_none() && tag.is_none() {
            return Err(D::Error::custom("an enable or disable item needs a rule or a tag"));
        }
        Ok(Selection { enable, rule, tag })
    }
}

impl Selection {
    fn verb(&self) -> &'static str {
        if self.enable { "enable" } else { "disable" }
    }
}

/// What applying the selection did, to be logged: one line per item and what it matched.
#[derive(Debug, Default, PartialEq)]
pub struct Applied {
    pub info: Vec<String>,
    /// Items that matched no rule: a typo here would otherwise go unnoticed.
    pub warnings: Vec<String>,
}

/// Applies the items in order, as Falco does: an item's rule pattern first, then its tag.
pub fn apply(items: &[Selection], ruleset: &mut Ruleset) -> Applied {
    let mut out = Applied::default();
    for (i, s) in items.iter().enumerate() {
        let mut report = |what: String, n: usize| {
            let line = format!("rules[{i}]: {} {what}: {n} rules", s.verb());
            if n == 0 { out.warnings.push(format!("{line} (it matches none)")) } else { out.info.push(line) }
        };
        if let Some(p) = &s.rule {
            let n = ruleset.set_enabled_where(|r| matches_wildcard(p, &r.name), s.enable);
            report(format!("rules named '{p}'"), n);
        }
        if let Some(t) = &s.tag {
            let n = ruleset.set_enabled_where(|r| r.tags.iter().any(|x| x == t), s.enable);
            report(format!("rules tagged '{t}'"), n);
        }
    }
    out
}

/// Whether `name` matches `pattern`, where `*` stands for any run of characters (and nothing
/// else is special); without a `*`, the names must be equal.
pub fn matches_wildcard(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if name.len() < first.len() + last.len() || !name.starts_with(first) || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(at) => rest = &rest[at + mid.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_any_run_of_characters() {
        assert!(matches_wildcard("*", "anything"));
        assert!(matches_wildcard("**", ""));
        assert!(matches_wildcard("Read *", "Read sensitive file"));
        assert!(!matches_wildcard("Read *", "Write sensitive file"));
        assert!(matches_wildcard("*shell*", "Terminal shell in container"));
        assert!(matches_wildcard("*a", "aXa"));
        assert!(matches_wildcard("a*b*c", "aXbYbZc"));
        assert!(!matches_wildcard("a*b*c", "aXcYb"));
        assert!(!matches_wildcard("ab*ba", "aba"), "the two ends cannot overlap");
        assert!(matches_wildcard("Exact name", "Exact name"));
        assert!(!matches_wildcard("Exact", "Exact name"), "no star: equal names only");
        assert!(!matches_wildcard("read *", "Read x"), "case matters");
    }

    #[test]
    fn items_read_as_falco_writes_them_and_bad_ones_are_refused() {
        let ok: Vec<Selection> =
            serde_yaml_ng::from_str("- disable: {rule: '*'}\n- enable: {tag: network, rule: 'Net*'}\n")
                .unwrap();
        assert_eq!(
            ok,
            vec![
                Selection { enable: false, rule: Some("*".into()), tag: None },
                Selection { enable: true, rule: Some("Net*".into()), tag: Some("network".into()) },
            ]
        );
        for (bad, why) in [
            ("- disable: {}\n", "needs a rule or a tag"),
            ("- disable: {rule: ''}\n", "needs a rule or a tag"),
            ("- enable: {rule: a}\n  disable: {rule: b}\n", "not both"),
            ("- {}\n", "enable: {rule/tag} or disable"),
            ("- disable: {rules: a}\n", "unknown field `rules`"),
            ("- drop: {rule: a}\n", "unknown field `drop`"),
        ] {
            let e = serde_yaml_ng::from_str::<Vec<Selection>>(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
