//! Documents of govcloud (报表): the monthly service statement 月度服务明细 as canonical
//! JSON (the bytes that are stored, signed and timestamped), XLSX and PDF.
//!
//! The JSON is the statement of record; the XLSX and the PDF are renderings of it and are
//! deterministic too (the same statement gives the same bytes).

pub mod json;

/// Why a document could not be produced or read.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Stored or uploaded statement JSON that does not decode.
    #[error("statement JSON does not decode: {0}")]
    Json(String),
    /// A renderer failed (a defect or a resource problem, not user input).
    #[error("{what} rendering failed: {detail}")]
    Render { what: &'static str, detail: String },
}
