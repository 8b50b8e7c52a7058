//! nonroot-lab as a library: the binary's commands, and what the tests drive directly.
//!
//! Data flows one way: lesson files -> model -> runner -> engine outcome -> checks ->
//! report or screen. Only `engine` knows bollard.

pub mod audit;
pub mod audit_command;
pub mod audit_step;
pub mod check;
pub mod class;
pub mod cli;
pub mod command;
pub mod console;
pub mod debug_log;
pub mod doctor;
pub mod engine;
pub mod exercise_command;
pub mod facts;
pub mod http_probe;
pub mod image_archive;
pub mod images;
pub mod layers;
pub mod lesson;
pub mod progress;
pub mod report;
pub mod resolve;
pub mod rules_command;
pub mod runner;
pub mod session;
pub mod signals;
pub mod tui;
pub mod verify;
pub mod workspace;
pub mod yaml;
