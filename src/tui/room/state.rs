//! The instructor's room: what it shows and how keys and the watch change it. Pure:
//! the loop feeds it messages, the view draws it.

use std::collections::BTreeMap;

use crate::class::room::{Attendee, Change, Steps, Stuck, Summary};
use crate::tui::keys::Key;

pub enum RoomMsg {
    Key(Key),
    Change(Change),
    /// The clock moved: idle minutes and "stuck" follow it.
    Tick(u64),
}

pub struct RoomState {
    pub class: String,
    /// Each lesson's id and its steps' ids, in order: a column each, and the order of
    /// an attendee's steps.
    pub lessons: Vec<(String, Vec<String>)>,
    pub attendees: BTreeMap<String, Attendee>,
    pub stuck: Stuck,
    pub now_ms: u64,
    /// The selected row of the sorted table.
    pub selected: usize,
    /// The attendee (namespace) whose steps are open.
    pub detail: Option<String>,
    pub scroll: usize,
    pub problem: Option<String>,
    /// The last change seen: who, and when the watch saw it.
    pub last_change: Option<(String, u64)>,
}

impl RoomState {
    pub fn new(
        class: &str,
        lessons: Vec<(String, Vec<String>)>,
        attendees: Vec<Attendee>,
        stuck: Stuck,
        now_ms: u64,
    ) -> RoomState {
        RoomState {
            class: class.to_string(),
            lessons,
            attendees: attendees
                .into_iter()
                .map(|a| (a.namespace.clone(), a))
                .collect(),
            stuck,
            now_ms,
            selected: 0,
            detail: None,
            scroll: 0,
            problem: None,
            last_change: None,
        }
    }

    pub fn total_steps(&self) -> usize {
        self.lessons.iter().map(|(_, steps)| steps.len()).sum()
    }

    /// Where a published step (`LESSON.STEP`) sits in the lessons' order; steps the
    /// lessons do not have (another version of the lab) go last.
    pub fn position(&self, key: &str) -> (usize, usize) {
        let Some((lesson, step)) = crate::class::room::split_key(key) else {
            return (usize::MAX, usize::MAX);
        };
        self.lessons
            .iter()
            .enumerate()
            .find(|(_, (id, _))| id == lesson)
            .map(|(i, (_, steps))| {
                (
                    i,
                    steps.iter().position(|s| s == step).unwrap_or(usize::MAX),
                )
            })
            .unwrap_or((usize::MAX, usize::MAX))
    }

    /// The table's rows: stuck first, then unreadable, then the fewest passed.
    pub fn rows(&self) -> Vec<Summary> {
        let mut rows: Vec<Summary> = self
            .attendees
            .values()
            .map(|a| a.summary(self.stuck, self.now_ms))
            .collect();
        crate::class::room::sort(&mut rows);
        rows
    }

    /// Returns true to quit.
    pub fn update(&mut self, msg: RoomMsg) -> bool {
        match msg {
            RoomMsg::Tick(now) => self.now_ms = now,
            RoomMsg::Change(Change::Problem(why)) => self.problem = Some(why),
            RoomMsg::Change(Change::Progress {
                namespace,
                name,
                steps,
                seen_ms,
            }) => {
                self.problem = None;
                let entry = self
                    .attendees
                    .entry(namespace.clone())
                    .or_insert_with(|| Attendee {
                        name: name.clone(),
                        namespace: namespace.clone(),
                        steps: Steps::default(),
                    });
                if !name.is_empty() {
                    entry.name = name.clone();
                }
                entry.steps = steps;
                self.now_ms = self.now_ms.max(seen_ms);
                self.last_change = Some((entry.name.clone(), seen_ms));
            }
            RoomMsg::Key(key) => return self.on_key(key),
        }
        false
    }

    fn on_key(&mut self, key: Key) -> bool {
        let rows = self.attendees.len();
        match (key, &self.detail) {
            (Key::Quit, _) => return true,
            (Key::Back, Some(_)) => {
                self.detail = None;
                self.scroll = 0;
            }
            (Key::Back, None) => return true,
            (Key::Open, None) => {
                self.detail = self.rows().get(self.selected).map(|s| s.namespace.clone());
                self.scroll = 0;
            }
            (Key::Up, None) => self.selected = self.selected.saturating_sub(1),
            (Key::Down, None) => self.selected = (self.selected + 1).min(rows.saturating_sub(1)),
            (Key::Top, None) => self.selected = 0,
            (Key::Bottom, None) => self.selected = rows.saturating_sub(1),
            (Key::Up, Some(_)) => self.scroll = self.scroll.saturating_sub(1),
            (Key::Down, Some(_)) => self.scroll += 1,
            (Key::PageUp, Some(_)) => self.scroll = self.scroll.saturating_sub(10),
            (Key::PageDown, Some(_)) => self.scroll += 10,
            _ => {}
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::class::room::{Failure, StepRecord};

    fn steps(records: &[(&str, &str, u32)]) -> Steps {
        Steps::read(
            records
                .iter()
                .map(|(k, status, in_a_row)| {
                    (
                        k.to_string(),
                        StepRecord {
                            status: status.to_string(),
                            tries: 1,
                            failed_in_a_row: *in_a_row,
                            at_ms: 1_000,
                            failure: (*status == "failed").then(Failure::default),
                            ..StepRecord::default()
                        },
                    )
                })
                .collect(),
        )
    }

    fn attendee(name: &str) -> Attendee {
        Attendee {
            name: name.into(),
            namespace: format!("c-{name}"),
            steps: Steps::default(),
        }
    }

    #[test]
    fn a_change_moves_the_stuck_to_the_top_and_enter_opens_them() {
        let mut s = RoomState::new(
            "c",
            vec![("01-a".into(), vec!["x".into(), "y".into(), "z".into()])],
            vec![attendee("ann"), attendee("ben")],
            Stuck::default(),
            1_000,
        );
        assert_eq!(s.rows()[0].name, "ann");
        s.update(RoomMsg::Change(Change::Progress {
            namespace: "c-ben".into(),
            name: "ben".into(),
            steps: steps(&[("01-a.x", "failed", 3)]),
            seen_ms: 2_000,
        }));
        assert_eq!(s.rows()[0].name, "ben", "the stuck come first");
        assert_eq!(s.last_change, Some(("ben".into(), 2_000)));
        s.update(RoomMsg::Key(Key::Open));
        assert_eq!(s.detail.as_deref(), Some("c-ben"));
        assert!(!s.update(RoomMsg::Key(Key::Back)));
        assert_eq!(s.detail, None);
        s.update(RoomMsg::Key(Key::Down));
        s.update(RoomMsg::Key(Key::Down));
        assert_eq!(s.selected, 1, "never past the last row");
        assert!(s.update(RoomMsg::Key(Key::Quit)));
    }

    #[test]
    fn steps_follow_the_lessons_order_not_the_alphabet() {
        let s = RoomState::new(
            "c",
            vec![
                ("01-a".into(), vec!["root".into(), "pod".into()]),
                ("02-b".into(), vec!["x".into()]),
            ],
            vec![],
            Stuck::default(),
            0,
        );
        let mut keys = vec!["02-b.x", "01-a.pod", "01-a.root", "09-gone.y"];
        keys.sort_by_key(|k| s.position(k));
        assert_eq!(keys, ["01-a.root", "01-a.pod", "02-b.x", "09-gone.y"]);
    }

    #[test]
    fn an_attendee_added_later_appears_and_garbage_stays_one_row() {
        let mut s = RoomState::new("c", vec![], vec![], Stuck::default(), 0);
        s.update(RoomMsg::Change(Change::Progress {
            namespace: "c-cat".into(),
            name: "cat".into(),
            steps: Steps::unreadable("`x`: bad"),
            seen_ms: 5,
        }));
        let rows = s.rows();
        assert_eq!(rows.len(), 1);
        assert!(rows[0].unreadable.is_some());
    }
}
