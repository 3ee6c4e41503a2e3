//! Logging for the Lambda: `lambda_runtime`'s conventions (stdout, JSON when
//! `AWS_LAMBDA_LOG_FORMAT=JSON`, level from `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`) with one
//! difference that matters for a secrets service: only this crate's events follow the
//! requested level. Every other crate is capped at INFO, because `lambda_runtime` prints the
//! raw invocation event (with the request body, so the plaintext value) at TRACE, and HTTP
//! and SDK crates print payloads at DEBUG/TRACE. No variable can lift that cap.

use std::str::FromStr;

use lambda_http::tracing::subscriber::filter::{FilterFn, LevelFilter};
use lambda_http::tracing::subscriber::fmt::MakeWriter;
use lambda_http::tracing::subscriber::layer::SubscriberExt;
use lambda_http::tracing::subscriber::util::SubscriberInitExt;
use lambda_http::tracing::subscriber::{self, Layer};
use lambda_http::tracing::Metadata;

/// Our crate's target prefix; the audit lines use `org_secrets::audit`.
pub(crate) const CRATE_TARGET: &str = "org_secrets";
/// The most any other crate may log, whatever the environment asks for.
pub(crate) const DEPENDENCY_LEVEL_CAP: LevelFilter = LevelFilter::INFO;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

/// The level this crate logs at, from the same variables `lambda_runtime` reads.
/// `AWS_LAMBDA_LOG_LEVEL` wins; `RUST_LOG` may be a bare level or contain `org_secrets=LEVEL`;
/// Lambda's `FATAL` means ERROR. Anything unreadable means INFO.
pub(crate) fn requested_level(
    aws_lambda_log_level: Option<&str>,
    rust_log: Option<&str>,
) -> LevelFilter {
    let parse = |raw: &str| {
        let raw = raw.trim();
        if raw.eq_ignore_ascii_case("fatal") {
            return Some(LevelFilter::ERROR);
        }
        LevelFilter::from_str(raw).ok()
    };
    if let Some(level) = aws_lambda_log_level.and_then(parse) {
        return level;
    }
    let Some(rust_log) = rust_log else {
        return LevelFilter::INFO;
    };
    if let Some(level) = parse(rust_log) {
        return level;
    }
    rust_log
        .split(',')
        .filter_map(|directive| directive.split_once('='))
        .filter(|(target, _)| target.trim() == CRATE_TARGET)
        .find_map(|(_, level)| parse(level))
        .unwrap_or(LevelFilter::INFO)
}

/// The level allowed for events of `target`: ours at `level`, any other crate at most
/// [`DEPENDENCY_LEVEL_CAP`]. Matching is by whole path segment, so `org_secrets_x` is not ours.
pub(crate) fn level_for_target(level: LevelFilter, target: &str) -> LevelFilter {
    let ours = target == CRATE_TARGET
        || target
            .strip_prefix(CRATE_TARGET)
            .is_some_and(|rest| rest.starts_with("::"));
    if ours {
        level
    } else {
        level.min(DEPENDENCY_LEVEL_CAP)
    }
}

/// The filter installed on the log layer, see [`level_for_target`].
pub(crate) fn filter(level: LevelFilter) -> FilterFn<impl Fn(&Metadata<'_>) -> bool + Clone> {
    FilterFn::new(move |metadata: &Metadata<'_>| {
        *metadata.level() <= level_for_target(level, metadata.target())
    })
    .with_max_level_hint(level)
}

pub(crate) fn format_from_env(aws_lambda_log_format: Option<&str>) -> LogFormat {
    match aws_lambda_log_format {
        Some(format) if format.trim().eq_ignore_ascii_case("json") => LogFormat::Json,
        _ => LogFormat::Text,
    }
}

/// Installs the global subscriber writing to `writer` (stdout in Lambda).
pub(crate) fn init_with_writer<W>(level: LevelFilter, format: LogFormat, writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let fmt_layer = subscriber::fmt::layer()
        .with_writer(writer)
        .with_target(true)
        .without_time();
    let layer = match format {
        LogFormat::Json => fmt_layer.json().with_filter(filter(level)).boxed(),
        LogFormat::Text => fmt_layer
            .with_ansi(false)
            .with_filter(filter(level))
            .boxed(),
    };
    // A second init (tests) keeps the first subscriber; that is not an error worth a panic.
    let _ = subscriber::registry().with(layer).try_init();
}

pub fn init_from_env() {
    let var = |name: &str| std::env::var(name).ok();
    let level = requested_level(
        var("AWS_LAMBDA_LOG_LEVEL").as_deref(),
        var("RUST_LOG").as_deref(),
    );
    let format = format_from_env(var("AWS_LAMBDA_LOG_FORMAT").as_deref());
    init_with_writer(level, format, std::io::stdout);
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::tracing::Level;

    #[test]
    fn level_sources_in_order() {
        assert_eq!(
            requested_level(Some("TRACE"), Some("error")),
            LevelFilter::TRACE
        );
        assert_eq!(requested_level(Some("FATAL"), None), LevelFilter::ERROR);
        assert_eq!(requested_level(None, Some("debug")), LevelFilter::DEBUG);
        assert_eq!(
            requested_level(None, Some("hyper=trace,org_secrets=warn")),
            LevelFilter::WARN
        );
        assert_eq!(requested_level(None, Some("nonsense")), LevelFilter::INFO);
        assert_eq!(requested_level(None, None), LevelFilter::INFO);
    }

    #[test]
    fn dependencies_never_log_below_info() {
        let enabled =
            |target: &str, event: Level| event <= level_for_target(LevelFilter::TRACE, target);
        assert!(enabled("org_secrets::api", Level::TRACE));
        assert!(!enabled(
            "lambda_runtime::layers::api_response",
            Level::TRACE
        ));
        assert!(!enabled("lambda_runtime", Level::DEBUG));
        assert!(!enabled("aws_smithy_runtime::client", Level::DEBUG));
        assert!(!enabled("hyper_util::client", Level::TRACE));
        assert!(enabled("lambda_runtime", Level::WARN));
        // A crate whose name merely starts with ours is not ours.
        assert!(!enabled("org_secrets_evil", Level::TRACE));
    }
}
