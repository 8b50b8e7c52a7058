use serde::Serialize;

use super::Summary;
use crate::runner::StepReport;

#[derive(Serialize)]
struct JsonReport<'a> {
    run_id: &'a str,
    summary: Summary,
    steps: &'a [StepReport],
}

pub fn render(run_id: &str, reports: &[StepReport]) -> String {
    let report = JsonReport {
        run_id,
        summary: Summary::of(reports),
        steps: reports,
    };
    serde_json::to_string_pretty(&report).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}
