//! Metrics in and out of postwatch.
//!
//! * **Exposition parsing** — the Prometheus text format 0.0.4 ([`parse_text`]) and
//!   OpenMetrics 1.0 ([`parse_openmetrics`]) into
//!   [`MetricFamily`](postwatch_model::metrics::MetricFamily) values, bounded by
//!   [`ParseLimits`], with errors naming the line; [`negotiate`] holds the `Accept` header
//!   a scraper sends and picks the parser for a response's `Content-Type`.
//! * **Scraping** ([`scrape`]) — targets from static lists and file-based discovery, one
//!   cancellable task per target writing samples, `up`, `scrape_duration_seconds`,
//!   `scrape_samples_scraped` and staleness markers into a
//!   [`SampleSink`](postwatch_model::metrics::SampleSink).
//! * **remote_write 1.0** ([`remote_write`]) — the protobuf messages, snappy framing,
//!   a size-limited decoder for the server's receiver, an encoder and a batching sender
//!   with retries.
//!
//! # Wiring (done by the server)
//!
//! * remote_write receiver: `POST /api/v1/write` with `Content-Encoding: snappy` →
//!   [`remote_write::decode_write_request`] → `SampleSink::append` of `series` → 204;
//!   a decode error answers [`remote_write::RemoteWriteError::http_status`] (400/413) with
//!   the error text, rejected samples answer 400 listing their reasons.
//! * scraping: one [`scrape::spawn_scraper`] per job from the server's configuration
//!   ([`scrape::ScrapeConfig`] deserializes from it); [`scrape::ScrapeHandle::stop`] on
//!   shutdown or reload writes the final staleness markers.
//! * forwarding: [`remote_write::sender::RemoteWriteSender`] is itself a `SampleSink`
//!   that queues, so it can sit beside the local store.

pub mod error;
pub mod gofloat;
pub mod http;
pub mod negotiate;
pub mod openmetrics;
pub mod remote_write;
pub mod scrape;
pub mod text;

pub use error::{ExpositionFormat, ParseError, ParseLimits};
pub use negotiate::{format_for_content_type, parse_exposition, SCRAPE_ACCEPT_HEADER};
pub use openmetrics::{parse_openmetrics, parse_openmetrics_detailed};
pub use text::parse_text;
