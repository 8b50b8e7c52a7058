use serde::Serialize;

use super::{EngineLine, Summary};
use crate::runner::StepReport;

#[derive(Serialize)]
struct JsonReport<'a> {
    run_id: &'a str,
    /// The engines the run used, each with its kind.
    engines: &'a [EngineLine],
    summary: Summary,
    steps: &'a [StepReport],
}

pub fn render(run_id: &str, engines: &[EngineLine], reports: &[StepReport]) -> String {
    let report = JsonReport {
        run_id,
        engines,
        summary: Summary::of(reports),
        steps: reports,
    };
    serde_json::to_string_pretty(&report).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}
