//! Service-account tokens as a class hands them out: read without a library (a JWT's
//! claims are base64url JSON), written into one kubeconfig per person.

use std::path::Path;

use base64::Engine as _;

/// What a token says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Claims {
    /// Seconds since the Unix epoch; none for the Secret tokens of servers before 1.24.
    pub expires: Option<u64>,
    /// The ServiceAccount's uid: a token of an account deleted and made again is stale.
    pub account_uid: Option<String>,
}

/// The claims of a JWT, or None when it is not one.
pub fn claims(token: &str) -> Option<Claims> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let account_uid = v["kubernetes.io"]["serviceaccount"]["uid"]
        .as_str()
        .or_else(|| v["kubernetes.io/serviceaccount/service-account.uid"].as_str())
        .map(str::to_string);
    Some(Claims {
        expires: v["exp"].as_u64(),
        account_uid,
    })
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `2026-11-26 23:57 UTC`.
pub fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// One person's kubeconfig: the class's cluster, their token, their namespace.
pub struct Kubeconfig<'a> {
    pub class: &'a str,
    pub user: &'a str,
    pub namespace: &'a str,
    pub server: &'a str,
    pub ca_data: Option<&'a str>,
    pub insecure: bool,
    pub token: &'a str,
}

impl Kubeconfig<'_> {
    /// YAML whose every value is a JSON string, so no name or token needs escaping
    /// rules of its own.
    pub fn render(&self) -> String {
        let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
        let context = format!("{}-{}", self.class, self.user);
        let mut cluster = format!("    server: {}\n", q(self.server));
        if let Some(ca) = self.ca_data {
            cluster.push_str(&format!("    certificate-authority-data: {}\n", q(ca)));
        }
        if self.insecure {
            cluster.push_str("    insecure-skip-tls-verify: true\n");
        }
        format!(
            "# nonroot-lab class {class}: {user}'s access, made by `nonroot-lab class up`.\n\
             apiVersion: v1\nkind: Config\nclusters:\n- name: {cname}\n  cluster:\n{cluster}\
             contexts:\n- name: {ctx}\n  context:\n    cluster: {cname}\n    user: {uname}\n    namespace: {ns}\n\
             current-context: {ctx}\nusers:\n- name: {uname}\n  user:\n    token: {token}\n",
            class = self.class,
            user = self.user,
            cname = q(self.class),
            ctx = q(&context),
            uname = q(self.user),
            ns = q(self.namespace),
            token = q(self.token),
        )
    }
}

/// The token of a kubeconfig file the lab wrote, if it is there and readable.
pub fn token_in(path: &Path) -> Option<String> {
    let config = kube::config::Kubeconfig::read_from(path).ok()?;
    let user = config.auth_infos.first()?.auth_info.as_ref()?;
    use secrecy::ExposeSecret;
    user.token.as_ref().map(|t| t.expose_secret().to_string())
}

/// Writes a file only its owner can read: it holds a credential.
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(text.as_bytes())?;
    drop(file);
    std::fs::rename(tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload: &str) -> String {
        let b = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!("{}.{}.sig", b.encode("{}"), b.encode(payload))
    }

    #[test]
    fn claims_of_both_kinds_of_token() {
        let bound =
            jwt(r#"{"exp":1700000000,"kubernetes.io":{"serviceaccount":{"name":"x","uid":"u1"}}}"#);
        assert_eq!(
            claims(&bound),
            Some(Claims {
                expires: Some(1_700_000_000),
                account_uid: Some("u1".into())
            })
        );
        let legacy = jwt(r#"{"kubernetes.io/serviceaccount/service-account.uid":"u2"}"#);
        assert_eq!(claims(&legacy).unwrap().account_uid.as_deref(), Some("u2"));
        assert_eq!(claims(&legacy).unwrap().expires, None);
        assert_eq!(claims("not-a-jwt"), None);
    }

    #[test]
    fn dates_read_as_people_write_them() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(1_795_737_420), "2026-11-26 23:57 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00 UTC");
    }

    #[test]
    fn a_kubeconfig_kube_reads_back_with_its_namespace() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ann.kubeconfig");
        let text = Kubeconfig {
            class: "room",
            user: "ann",
            namespace: "room-ann",
            server: "https://10.0.0.1:6443",
            ca_data: Some("Q0E="),
            insecure: false,
            token: "a.b\"c",
        }
        .render();
        write_private(&path, &text).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(token_in(&path).as_deref(), Some("a.b\"c"));
        let source = crate::engine::kubeconfig::Source::locate(Some(&path), None).unwrap();
        assert_eq!(source.namespace().as_deref(), Some("room-ann"));
        assert_eq!(source.context().as_deref(), Some("room-ann"));
    }
}
