//! What a user string (`USER`, `Config.User`, `--user`) means: the one reading every
//! rule and every lesson check shares.

/// The user or group part of `USER user[:group]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// Nothing given: the engine runs the process as uid 0.
    Empty,
    Id(u64),
    Name(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub user: Who,
    pub group: Option<Who>,
}

fn who(part: &str) -> Who {
    let part = part.trim();
    if part.is_empty() {
        Who::Empty
    } else if part.bytes().all(|b| b.is_ascii_digit()) {
        // A uid too large for u64 is still a number, and not 0.
        Who::Id(part.parse().unwrap_or(u64::MAX))
    } else {
        Who::Name(part.to_string())
    }
}

impl User {
    pub fn parse(text: &str) -> User {
        let text = text.trim();
        match text.split_once(':') {
            Some((u, g)) => User {
                user: who(u),
                group: Some(who(g)),
            },
            None => User {
                user: who(text),
                group: None,
            },
        }
    }

    /// uid 0 for certain: empty, `0`, or `root`.
    pub fn is_root(&self) -> bool {
        match &self.user {
            Who::Empty => true,
            Who::Id(0) => true,
            Who::Id(_) => false,
            Who::Name(n) => n == "root",
        }
    }

    /// A number other than 0: what the kubelet's runAsNonRoot can verify.
    pub fn is_numeric_non_root(&self) -> bool {
        matches!(self.user, Who::Id(u) if u != 0)
    }

    /// A name other than root: non-root only if the image's /etc/passwd says so.
    pub fn name(&self) -> Option<&str> {
        match &self.user {
            Who::Name(n) if n != "root" => Some(n),
            _ => None,
        }
    }

    /// The primary group is 0 (`:0` or `:root`).
    pub fn group_is_zero(&self) -> bool {
        match &self.group {
            Some(Who::Id(0)) => true,
            Some(Who::Name(n)) => n == "root",
            _ => false,
        }
    }
}

/// The uid `/etc/passwd` gives `name`, if it lists it.
pub fn uid_in_passwd(passwd: &str, name: &str) -> Option<u64> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next()? == name).then_some(())?;
        fields.nth(1)?.trim().parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::name_of_uid;

    #[test]
    fn uids_are_named_as_the_image_names_them() {
        let passwd = "root:x:0:0::/root:/bin/sh\nwww-data:x:33:33::/var/www:/usr/sbin/nologin\n";
        assert_eq!(name_of_uid(passwd, "33").as_deref(), Some("www-data"));
        assert_eq!(name_of_uid(passwd, " 0").as_deref(), Some("root"));
        assert_eq!(name_of_uid(passwd, "101"), None);
    }

    #[test]
    fn root_in_every_spelling() {
        for s in ["", "0", "root", "0:0", "root:root", "0:4242", " root "] {
            assert!(User::parse(s).is_root(), "{s:?}");
        }
        for s in ["4242", "4242:0", "nobody", "1000:1000", "00042"] {
            assert!(!User::parse(s).is_root(), "{s:?}");
        }
    }

    #[test]
    fn numeric_non_root_is_what_the_kubelet_can_verify() {
        assert!(User::parse("4242").is_numeric_non_root());
        assert!(User::parse("4242:0").is_numeric_non_root());
        assert!(!User::parse("nobody").is_numeric_non_root());
        assert!(!User::parse("0").is_numeric_non_root());
        assert!(!User::parse("").is_numeric_non_root());
        assert!(User::parse("99999999999999999999999").is_numeric_non_root());
    }

    #[test]
    fn group_zero_and_names() {
        assert!(User::parse("4242:0").group_is_zero());
        assert!(User::parse("app:root").group_is_zero());
        assert!(!User::parse("4242").group_is_zero());
        assert_eq!(User::parse("app:app").name(), Some("app"));
        assert_eq!(User::parse("root").name(), None);
    }

    #[test]
    fn passwd_lookup() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\ntoor:x:0:0::/:/bin/sh\nnobody:x:65534:65534::/:/usr/sbin/nologin\n";
        assert_eq!(uid_in_passwd(passwd, "toor"), Some(0));
        assert_eq!(uid_in_passwd(passwd, "nobody"), Some(65534));
        assert_eq!(uid_in_passwd(passwd, "app"), None);
    }
}
