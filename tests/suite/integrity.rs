//! Tests: integrity.
