//! Tests: connect.
