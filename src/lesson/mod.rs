//! Lessons: the model, where the files come from, and the linter.

pub mod cases;
mod cases_lint;
pub mod exercise;
mod exercise_lint;
pub mod lint;
pub mod load;
pub mod locate;
pub mod model;

pub use load::LabFiles;
pub use model::{Lesson, Platform};
