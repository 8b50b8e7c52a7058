//! What a class is called on the cluster: its attendees' namespaces, the labels that
//! find everything of one class, and the rule every name must follow.

/// On every object of a class: its name. `class down` deletes by it, and a second
/// class never carries the first one's value.
pub const CLASS: &str = "nonroot-lab.class";
/// On an attendee's namespace and progress ConfigMap: the attendee's name.
pub const ATTENDEE: &str = "nonroot-lab.attendee";
/// On the class's own namespace, which holds the instructor's ServiceAccount.
pub const ROLE: &str = "nonroot-lab.role";
/// The ConfigMap in each attendee's namespace that the lab publishes progress to.
pub const PROGRESS_MAP: &str = "nonroot-lab-progress";
/// The attendees' and the instructor's ServiceAccount, in their own namespace.
pub const ACCOUNT: &str = "nonroot-lab";
pub const INSTRUCTOR_ACCOUNT: &str = "instructor";
/// Not an attendee's name: the class's own namespace is `CLASS-instructor`.
const RESERVED: &str = "instructor";
pub const DEFAULT_CLASS: &str = "nonroot-lab";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Class {
    pub name: String,
}

impl Class {
    pub fn new(name: &str) -> Result<Class, String> {
        dns_label("--name", name)?;
        // The longest namespace is CLASS-instructor; attendees' names are checked against
        // what is left.
        if name.len() + 1 + RESERVED.len() > 63 {
            return Err(format!(
                "--name {name}: at most {} characters, so that its namespaces stay within 63",
                63 - 1 - RESERVED.len()
            ));
        }
        Ok(Class {
            name: name.to_string(),
        })
    }

    pub fn namespace(&self, attendee: &str) -> String {
        format!("{}-{attendee}", self.name)
    }

    pub fn instructor_namespace(&self) -> String {
        self.namespace(RESERVED)
    }

    /// The ClusterRole (and its binding) of the instructor's read-only view.
    pub fn instructor_role(&self) -> String {
        format!("{}-instructor", self.name)
    }

    pub fn selector(&self) -> String {
        format!("{CLASS}={}", self.name)
    }

    /// Checks an attendee's name: a DNS label, not reserved, and short enough that its
    /// namespace is one too.
    pub fn attendee(&self, name: &str) -> Result<String, String> {
        dns_label("attendee", name)?;
        if name == RESERVED {
            return Err(format!(
                "attendee `{name}`: the name is the class's own namespace ({}); pick another",
                self.instructor_namespace()
            ));
        }
        let ns = self.namespace(name);
        if ns.len() > 63 {
            return Err(format!(
                "attendee `{name}`: its namespace `{ns}` would be {} characters, over 63; use a shorter name",
                ns.len()
            ));
        }
        Ok(name.to_string())
    }
}

/// The attendees of `--attendees ann,ben` or `--count 3` (`attendee-01`...).
pub fn attendees(
    class: &Class,
    list: Option<&str>,
    count: Option<u16>,
) -> Result<Vec<String>, String> {
    let names: Vec<String> = match (list, count) {
        (Some(list), _) => list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        (None, Some(n)) => {
            let width = n.to_string().len().max(2);
            (1..=n).map(|i| format!("attendee-{i:0width$}")).collect()
        }
        (None, None) => return Err("say who comes: --attendees ann,ben,cat or --count 30".into()),
    };
    if names.is_empty() {
        return Err("--attendees: no names given; list them separated by commas".into());
    }
    let mut seen = std::collections::BTreeSet::new();
    for name in &names {
        class.attendee(name)?;
        if !seen.insert(name) {
            return Err(format!("attendee `{name}` is listed twice"));
        }
    }
    Ok(names)
}

/// RFC 1123 label, as Kubernetes requires of namespace names.
fn dns_label(what: &str, name: &str) -> Result<(), String> {
    let rule = "lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters (a DNS label)";
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!("{what} `{name}` is not a valid name: use {rule}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_dns_label_rule() {
        let class = Class::new("room1").unwrap();
        assert_eq!(class.namespace("ann"), "room1-ann");
        assert_eq!(class.instructor_namespace(), "room1-instructor");
        for bad in ["Ann", "ann_b", "-ann", "ann-", "", "a.b", &"x".repeat(64)] {
            let err = class.attendee(bad).unwrap_err();
            assert!(err.contains("DNS label"), "{bad}: {err}");
        }
        assert!(class
            .attendee("instructor")
            .unwrap_err()
            .contains("room1-instructor"));
        assert!(class
            .attendee(&"x".repeat(60))
            .unwrap_err()
            .contains("over 63"));
        assert!(Class::new("Room").unwrap_err().contains("--name `Room`"));
        assert!(Class::new(&"r".repeat(60)).is_err());
    }

    #[test]
    fn attendees_come_from_a_list_or_a_count() {
        let class = Class::new(DEFAULT_CLASS).unwrap();
        assert_eq!(
            attendees(&class, Some("ann, ben,cat"), None).unwrap(),
            ["ann", "ben", "cat"]
        );
        let counted = attendees(&class, None, Some(30)).unwrap();
        assert_eq!((counted[0].as_str(), counted.len()), ("attendee-01", 30));
        assert_eq!(
            attendees(&class, None, Some(100)).unwrap()[0],
            "attendee-001"
        );
        assert!(attendees(&class, Some("ann,ann"), None)
            .unwrap_err()
            .contains("twice"));
        assert!(attendees(&class, Some("ann,Bob"), None)
            .unwrap_err()
            .contains("`Bob`"));
        assert!(attendees(&class, None, None).is_err());
    }
}
