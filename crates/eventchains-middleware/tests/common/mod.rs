//! Test helpers: a `tracing` layer that captures spans and log events.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// One closed span or one log event, with its fields as strings.
#[derive(Clone, Debug)]
pub struct Captured {
    pub is_span: bool,
    pub name: String,
    pub level: Level,
    pub fields: BTreeMap<String, String>,
    /// For log events: the name of the span they happened in.
    pub parent: Option<String>,
}

impl Captured {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

#[derive(Default)]
struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

/// A layer that keeps everything it sees.
#[derive(Clone, Default)]
pub struct Capture {
    records: Arc<Mutex<Vec<Captured>>>,
}

impl Capture {
    pub fn records(&self) -> Vec<Captured> {
        self.records.lock().expect("not poisoned").clone()
    }

    /// Runs `f` with this layer as the thread's subscriber.
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry().with(self.clone());
        tracing::subscriber::with_default(subscriber, f)
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(fields) = span.extensions_mut().get_mut::<Fields>()
        {
            values.record(fields);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let parent = ctx.event_span(event).map(|s| s.name().to_owned());
        self.records.lock().expect("not poisoned").push(Captured {
            is_span: false,
            name: event.metadata().name().to_owned(),
            level: *event.metadata().level(),
            fields: fields.0,
            parent,
        });
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(&id) {
            let fields = span.extensions_mut().remove::<Fields>().unwrap_or_default();
            self.records.lock().expect("not poisoned").push(Captured {
                is_span: true,
                name: span.name().to_owned(),
                level: *span.metadata().level(),
                fields: fields.0,
                parent: None,
            });
        }
    }
}
