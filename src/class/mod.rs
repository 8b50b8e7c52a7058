//! A class on a shared cluster: `class up` makes a namespace, ServiceAccount, Role,
//! quota and kubeconfig per attendee; each attendee's lab publishes its progress to a
//! ConfigMap in their namespace; `class status` and `class watch` read the room from
//! those ConfigMaps; `class down` removes it all. The cluster is the shared state and
//! RBAC the security: no server or database of the lab's own.

pub mod cluster;
pub mod command;
pub mod down;
pub mod names;
pub mod objects;
pub mod publish;
pub mod room;
pub mod status;
pub mod token;
pub mod up;
pub mod watch;

#[cfg(test)]
mod mock_tests;
