//! Log lines and traces. Log lines go to stderr as text or JSON, filtered by
//! `AMBITO_LOG`. With `--otlp-endpoint`, spans go to an OpenTelemetry
//! collector over OTLP/HTTP: the HTTP request (continuing a caller's W3C
//! `traceparent`), the GraphQL operation, each database statement (its SQL
//! text, never its parameters) and each object-store call. Without it, no
//! span is even created.

use opentelemetry::propagation::{Extractor, TextMapPropagator as _};
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::FilterExt as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::config::LogFormat;

/// The installed logging and, when configured, the trace exporter, which
/// must be shut down to send its last spans.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

/// The traces address of an OTLP/HTTP collector given by its base address.
fn traces_url(endpoint: &str) -> String {
    let endpoint = endpoint.trim_end_matches('/');
    if endpoint.ends_with("/v1/traces") { endpoint.to_owned() } else { format!("{endpoint}/v1/traces") }
}

/// Installs the process's logging, and its trace exporter when `otlp` names a collector.
pub fn init(format: LogFormat, otlp: Option<&str>) -> anyhow::Result<Telemetry> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AMBITO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours for a person at a terminal, none for journald or a log file.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let lines = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(ansi);
    let lines = match format {
        LogFormat::Json => lines.json().flatten_event(true).boxed(),
        LogFormat::Text => lines.boxed(),
    };
    let provider = match otlp {
        None => None,
        Some(endpoint) => {
            use opentelemetry_otlp::WithExportConfig as _;
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .with_endpoint(traces_url(endpoint))
                .build()?;
            let resource = opentelemetry_sdk::Resource::builder_empty().with_service_name("ambito").build();
            Some(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build())
        }
    };
    // Spans of Ambito's own code at every level; events (log lines) only from
    // warnings up, attached to the span they happen in.
    let traces = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer().with_tracer(p.tracer("ambito")).with_filter(
            tracing_subscriber::filter::filter_fn(|meta| {
                meta.target().starts_with("ambito") && (meta.is_span() || *meta.level() <= tracing::Level::WARN)
            }),
        )
    });
    // Log lines are events only: with no exporter, no layer wants a span, so
    // a request makes none (a span per request and per statement is work
    // that only a trace needs), and each line keeps its flat format.
    let lines = lines.with_filter(filter.and(tracing_subscriber::filter::filter_fn(|meta| !meta.is_span())));
    tracing_subscriber::registry().with(lines).with(traces).try_init()?;
    EXPORTING.store(provider.is_some(), std::sync::atomic::Ordering::Relaxed);
    Ok(Telemetry { provider })
}

impl Telemetry {
    /// Sends the spans still queued and stops the exporter.
    pub async fn shutdown(self) {
        if let Some(provider) = self.provider {
            // The exporter's last send blocks: not on a runtime worker.
            let _ = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        }
    }
}

/// A request's headers, as the W3C trace-context propagator reads them.
struct Headers<'a>(&'a poem::http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// The span of one HTTP request, continuing the caller's trace when its
/// `traceparent` header names one.
pub fn request_span(headers: &poem::http::HeaderMap, method: &str, route: &str, request_id: &str) -> tracing::Span {
    let span = tracing::info_span!(
        "http.request",
        otel.name = %format_args!("{method} {route}"),
        otel.kind = "server",
        http.request.method = method,
        http.route = route,
        http.response.status_code = tracing::field::Empty,
        request_id,
    );
    if headers.contains_key("traceparent") {
        let parent = opentelemetry_sdk::propagation::TraceContextPropagator::new().extract(&Headers(headers));
        let _ = span.set_parent(parent);
    }
    span
}

/// The trace id of `span`, when its trace is exported.
pub fn trace_id(span: &tracing::Span) -> Option<String> {
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context.is_valid().then(|| span_context.trace_id().to_string())
}

/// Whether spans are exported: only then do connections watch their statements.
static EXPORTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The watcher of a new connection's statements when spans are exported.
/// Without an exporter none is installed: diesel would call it on every
/// statement for a span that nobody wants (4% of the server's CPU on a list).
pub fn statements() -> Option<Statements> {
    EXPORTING.load(std::sync::atomic::Ordering::Relaxed).then(Statements::default)
}

/// Opens a span per database statement of a request on a connection: its
/// SQL text only.
/// diesel shows a statement with its parameters (` -- binds: [...]`); the
/// text is cut before them, at the first occurrence, which is in the SQL
/// diesel wrote, before any value.
#[derive(Default)]
pub struct Statements {
    open: Option<tracing::Span>,
}

impl diesel::connection::Instrumentation for Statements {
    fn on_connection_event(&mut self, event: diesel::connection::InstrumentationEvent<'_>) {
        use diesel::connection::InstrumentationEvent as E;
        match event {
            // Only within a traced piece of work: the background tasks'
            // statements (the sealer, the janitor, LISTEN) would each be a
            // trace of one span.
            E::StartQuery { .. } if tracing::Span::current().is_none() => self.open = None,
            E::StartQuery { query, .. } => {
                let span = tracing::debug_span!(
                    "db.statement",
                    otel.kind = "client",
                    db.system = "postgresql",
                    db.statement = tracing::field::Empty
                );
                if !span.is_disabled() {
                    let text = query.to_string();
                    let sql = text.split_once(" -- binds: ").map_or(text.as_str(), |(sql, _)| sql);
                    span.record("db.statement", sql.trim());
                }
                self.open = Some(span);
            }
            E::FinishQuery { .. } => self.open = None,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_address_gets_the_traces_path_and_a_full_one_is_kept() {
        assert_eq!(traces_url("http://127.0.0.1:4318"), "http://127.0.0.1:4318/v1/traces");
        assert_eq!(traces_url("http://c:4318/"), "http://c:4318/v1/traces");
        assert_eq!(traces_url("http://c:4318/v1/traces"), "http://c:4318/v1/traces");
    }
}
