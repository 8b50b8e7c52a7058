//! The objects a class is made of, as the API server takes them. Pure data: `up`
//! applies them, tests read them.

use serde_json::{json, Value};

use super::names::{Class, ACCOUNT, ATTENDEE, CLASS, INSTRUCTOR_ACCOUNT, PROGRESS_MAP, ROLE};

/// What one attendee's lab does in its namespace, and nothing more: the lessons' pods
/// and deployments, exec, logs and port-forward into them, their events, and its own
/// progress ConfigMap (made by `class up`, so the Role names it and never grants
/// creating ConfigMaps).
pub fn attendee_rules() -> Value {
    json!([
        {"apiGroups": [""], "resources": ["pods"],
         "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
        {"apiGroups": [""], "resources": ["pods/exec", "pods/portforward"], "verbs": ["get", "create"]},
        {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["apps"], "resources": ["deployments"],
         "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
        {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": [PROGRESS_MAP],
         "verbs": ["get", "patch", "update"]}
    ])
}

fn meta(class: &Class, name: &str, namespace: Option<&str>, attendee: Option<&str>) -> Value {
    let mut labels = json!({CLASS: class.name});
    if let Some(a) = attendee {
        labels[ATTENDEE] = json!(a);
    }
    let mut m = json!({"name": name, "labels": labels});
    if let Some(ns) = namespace {
        m["namespace"] = json!(ns);
    }
    m
}

/// The attendee's namespace, and everything in it, in the order they are applied.
pub fn attendee_objects(class: &Class, attendee: &str) -> Vec<Value> {
    let ns = class.namespace(attendee);
    let m = |name: &str| meta(class, name, Some(&ns), Some(attendee));
    vec![
        json!({"apiVersion": "v1", "kind": "Namespace",
               "metadata": meta(class, &ns, None, Some(attendee))}),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": m(ACCOUNT)}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
               "metadata": m(ACCOUNT), "rules": attendee_rules()}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": m(ACCOUNT),
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ACCOUNT},
               "subjects": [{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": ns}]}),
        // The instructor reads pods, logs and events here through the cluster's own
        // read-only `view` role, bound in this namespace only.
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": m(INSTRUCTOR_ACCOUNT),
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
               "subjects": [{"kind": "ServiceAccount", "name": INSTRUCTOR_ACCOUNT,
                             "namespace": class.instructor_namespace()}]}),
        // Enough for every lesson's pods at once, not enough for one attendee to starve
        // the room; the LimitRange gives the lessons' pods (which ask for nothing) their
        // share, without which the quota would refuse them.
        json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": m(ACCOUNT),
               "spec": {"hard": {
                   "pods": "10", "requests.cpu": "1", "requests.memory": "1Gi",
                   "limits.cpu": "4", "limits.memory": "4Gi",
                   "configmaps": "4", "services": "2", "persistentvolumeclaims": "0"}}}),
        json!({"apiVersion": "v1", "kind": "LimitRange", "metadata": m(ACCOUNT),
               "spec": {"limits": [{"type": "Container",
                   "default": {"cpu": "500m", "memory": "256Mi"},
                   "defaultRequest": {"cpu": "50m", "memory": "32Mi"}}]}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": m(PROGRESS_MAP)}),
    ]
}

/// The class's own namespace with the instructor's ServiceAccount, and the read-only
/// ClusterRole the instructor's room view needs: one watch on the class's ConfigMaps
/// across namespaces (RBAC cannot grant a watch by label, so it reads ConfigMaps
/// everywhere; never Secrets), and the namespaces to find the attendees.
pub fn instructor_objects(class: &Class) -> Vec<Value> {
    let ns = class.instructor_namespace();
    let role = class.instructor_role();
    let mut namespace = meta(class, &ns, None, None);
    namespace["labels"][ROLE] = json!("instructor");
    vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": namespace}),
        json!({"apiVersion": "v1", "kind": "ServiceAccount",
               "metadata": meta(class, INSTRUCTOR_ACCOUNT, Some(&ns), None)}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": meta(class, &role, None, None),
        "rules": [
            {"apiGroups": [""], "resources": ["namespaces", "configmaps"],
             "verbs": ["get", "list", "watch"]}
        ]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": meta(class, &role, None, None),
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
               "subjects": [{"kind": "ServiceAccount", "name": INSTRUCTOR_ACCOUNT, "namespace": ns}]}),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_object_carries_the_class_and_lives_in_the_attendees_namespace() {
        let class = Class::new("room").unwrap();
        let objects = attendee_objects(&class, "ann");
        for o in &objects {
            assert_eq!(o["metadata"]["labels"][CLASS], "room", "{o}");
            assert_eq!(o["metadata"]["labels"][ATTENDEE], "ann", "{o}");
            if o["kind"] != "Namespace" {
                assert_eq!(o["metadata"]["namespace"], "room-ann", "{o}");
            }
        }
        let kinds: Vec<&str> = objects
            .iter()
            .map(|o| o["kind"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            [
                "Namespace",
                "ServiceAccount",
                "Role",
                "RoleBinding",
                "RoleBinding",
                "ResourceQuota",
                "LimitRange",
                "ConfigMap"
            ]
        );
        for o in instructor_objects(&class) {
            assert_eq!(o["metadata"]["labels"][CLASS], "room", "{o}");
        }
    }

    #[test]
    fn the_attendees_role_never_grants_rbac_secrets_or_new_configmaps() {
        let rules = attendee_rules();
        for rule in rules.as_array().unwrap() {
            let resources: Vec<&str> = rule["resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap())
                .collect();
            assert!(!resources
                .iter()
                .any(|r| r.contains("secret") || r.contains("role")));
            if resources == ["configmaps"] {
                assert_eq!(rule["resourceNames"], json!([PROGRESS_MAP]));
                assert!(!rule["verbs"].as_array().unwrap().contains(&json!("create")));
            }
        }
        let instructor = &instructor_objects(&Class::new("c").unwrap())[2];
        for rule in instructor["rules"].as_array().unwrap() {
            assert_eq!(rule["verbs"], json!(["get", "list", "watch"]));
        }
    }
}
