//! Frame costs of the TUI: the lesson view at 200x60, and a frame while a build streams
//! 1,000 lines a second (17 lines and one key per 60 Hz frame).

use criterion::{criterion_group, criterion_main, Criterion};
use nonroot_lab::engine::Stream;
use nonroot_lab::lesson::LabFiles;
use nonroot_lab::progress::Progress;
use nonroot_lab::runner::Event;
use nonroot_lab::tui::app::{App, Msg};
use nonroot_lab::tui::keys::Key;
use nonroot_lab::tui::theme::Theme;
use nonroot_lab::tui::view;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

fn lesson_app(w: u16, h: u16) -> App {
    let lessons = LabFiles::embedded().lessons().unwrap();
    let mut app = App::new(lessons, Progress::default(), Theme { color: true }, (w, h));
    app.update(Msg::Resize(w, h));
    app.update(Msg::Key(Key::Down));
    app.update(Msg::Key(Key::Down));
    app.update(Msg::Key(Key::Down));
    app.update(Msg::Key(Key::Open)); // 04-images, the longest lesson
    app
}

fn frames(c: &mut Criterion) {
    let app = lesson_app(200, 60);
    let mut terminal = Terminal::new(TestBackend::new(200, 60)).unwrap();
    c.bench_function("lesson view frame 200x60", |b| {
        b.iter(|| {
            terminal.draw(|f| view::draw(f, &app)).unwrap();
        });
    });

    let mut app = lesson_app(160, 48);
    app.update(Msg::Key(Key::Run));
    let mut terminal = Terminal::new(TestBackend::new(160, 48)).unwrap();
    let mut n = 0u64;
    c.bench_function("frame with 17 streamed lines and a key, 160x48", |b| {
        b.iter(|| {
            for _ in 0..17 {
                n += 1;
                app.update(Msg::Runner(Event::Output {
                    lesson: "04-images".into(),
                    step: "build-user-4242".into(),
                    stream: Stream::Progress,
                    line: format!("Step {n}/9 : RUN chown -R 4242 /var/log/nginx /var/cache/nginx /var/lib/nginx"),
                }));
            }
            app.update(Msg::Key(if n.is_multiple_of(2) { Key::PageUp } else { Key::PageDown }));
            terminal.draw(|f| view::draw(f, &app)).unwrap();
        });
    });
}

criterion_group!(benches, frames);
criterion_main!(benches);
