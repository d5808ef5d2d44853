//! Tests: streaming.
